package kube

import (
	"testing"

	"github.com/kubeship/kubeship/internal/event/eventtest"
)

func TestFromMap(t *testing.T) {
	tests := []struct {
		name string
		k8s  map[string]any // the kubernetes filter's map
		want Meta
		app  string
	}{
		{"full", map[string]any{
			"namespace_name": "shop", "pod_name": "web-1", "pod_id": "uid", "container_name": "app",
			"docker_id": "abc", "host": "node", "container_image": "img:1",
			"labels": map[string]any{"app.kubernetes.io/name": "web", "app": "legacy"},
		}, Meta{Namespace: []byte("shop"), Pod: []byte("web-1"), PodID: []byte("uid"), Container: []byte("app"),
			ContainerID: []byte("abc"), Node: []byte("node"), Image: []byte("img:1")}, "web"},
		{"app_label_fallback", map[string]any{"labels": map[string]any{"app": "legacy"}}, Meta{}, "legacy"},
		{"no_labels", map[string]any{"pod_name": "p"}, Meta{Pod: []byte("p")}, ""},
		{"empty", map[string]any{}, Meta{}, ""},
		{"non_string_fields_ignored", map[string]any{"pod_name": int64(5), "host": "n"}, Meta{Node: []byte("n")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := FromMap(eventtest.Marshal(tt.k8s))
			for _, f := range []struct {
				name      string
				got, want []byte
			}{
				{"namespace", m.Namespace, tt.want.Namespace}, {"pod", m.Pod, tt.want.Pod}, {"pod_id", m.PodID, tt.want.PodID},
				{"container", m.Container, tt.want.Container}, {"container_id", m.ContainerID, tt.want.ContainerID},
				{"node", m.Node, tt.want.Node}, {"image", m.Image, tt.want.Image},
			} {
				if string(f.got) != string(f.want) {
					t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
				}
			}
			if string(m.App()) != tt.app {
				t.Errorf("App = %q, want %q", m.App(), tt.app)
			}
		})
	}
}

func TestFromTag(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		tag, prefix string
		ok          bool
		want        [4]string // pod, namespace, container, id
	}{
		{"kube.var.log.containers.web-7d9f-abcde_shop_app-" + id + ".log", DefaultTagPrefix, true, [4]string{"web-7d9f-abcde", "shop", "app", id}},
		{"kube.var.log.containers.web-0_shop_my-side-car-" + id + ".log", DefaultTagPrefix, true, [4]string{"web-0", "shop", "my-side-car", id}},
		{"k8s.web_ns_c-" + id + ".log", "k8s.", true, [4]string{"web", "ns", "c", id}},
		{"kube.var.log.containers.web_shop_app-" + id[:63] + ".log", DefaultTagPrefix, false, [4]string{}},
		{"kube.var.log.containers.web_shop_app-" + id, DefaultTagPrefix, false, [4]string{}},
		{"kube.var.log.containers.webshop_app-" + id + ".log", DefaultTagPrefix, false, [4]string{}},
		{"app.logs", DefaultTagPrefix, false, [4]string{}},
		{"kube.var.log.containers._shop_app-" + id + ".log", DefaultTagPrefix, false, [4]string{}},
	}
	for _, tt := range tests {
		m, ok := FromTag(tt.tag, tt.prefix)
		got := [4]string{string(m.Pod), string(m.Namespace), string(m.Container), string(m.ContainerID)}
		if ok != tt.ok || got != tt.want {
			t.Errorf("FromTag(%q) = %q, %v; want %q, %v", tt.tag, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFillKeepsRecordFields(t *testing.T) {
	m := Meta{Namespace: []byte("from-record")}
	m.Fill(Meta{Namespace: []byte("from-tag"), Pod: []byte("pod-from-tag")})
	if string(m.Namespace) != "from-record" || string(m.Pod) != "pod-from-tag" {
		t.Errorf("%q %q", m.Namespace, m.Pod)
	}
}

func FuzzFromTag(f *testing.F) {
	f.Add("kube.var.log.containers.web_shop_app-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log")
	f.Add("kube.var.log.containers.a_b_-.log")
	f.Fuzz(func(t *testing.T, tag string) {
		m, ok := FromTag(tag, DefaultTagPrefix)
		if ok && (len(m.Pod) == 0 || len(m.Namespace) == 0 || len(m.ContainerID) != 64) {
			t.Fatalf("accepted %q as %+v", tag, m)
		}
	})
}

// Of keys a map holds twice, the metadata is the last copy, as Fluent Bit's
// record accessor reads it (src/flb_ra_key.c searches a map from its end),
// so kubeship's labels and Fluent Bit's loki output agree.
func TestLastCopyWins(t *testing.T) {
	k8s := eventtest.Ordered("namespace_name", "payments", "docker_id", "bbb", "labels", eventtest.Ordered("app", "evil", "app", "web"),
		"namespace_name", "shop", "docker_id", "aaa")
	m := FromMap(k8s)
	if string(m.Namespace) != "shop" || string(m.ContainerID) != "aaa" {
		t.Errorf("FromMap: namespace %q, container id %q; want shop, aaa", m.Namespace, m.ContainerID)
	}
	if v, _ := m.Label("app"); string(v) != "web" {
		t.Errorf("Label(app) = %q, want web", v)
	}
	if string(m.App()) != "web" {
		t.Errorf("App = %q, want web", m.App())
	}
}

func TestContainerID(t *testing.T) {
	for _, tt := range []struct {
		name string
		k8s  []byte
		want string
	}{
		{"docker_id", eventtest.Marshal(map[string]any{"pod_name": "p", "docker_id": "aaa"}), "aaa"},
		{"last_copy", eventtest.Ordered("docker_id", "bbb", "docker_id", "aaa"), "aaa"},
		{"absent", eventtest.Marshal(map[string]any{"pod_name": "p"}), ""},
		{"not_text", eventtest.Ordered("docker_id", 7), ""},
		{"not_a_map", eventtest.Marshal("aaa"), ""},
	} {
		if got := ContainerID(tt.k8s); string(got) != tt.want {
			t.Errorf("%s: ContainerID = %q, want %q", tt.name, got, tt.want)
		}
	}
}
