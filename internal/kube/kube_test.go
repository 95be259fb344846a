package kube

import (
	"testing"

	"github.com/kubeship/kubeship/internal/event/eventtest"
)

func TestFromRecord(t *testing.T) {
	tests := []struct {
		name string
		body map[string]any
		ok   bool
		want Meta
		app  string
	}{
		{"full", map[string]any{"kubernetes": map[string]any{
			"namespace_name": "shop", "pod_name": "web-1", "pod_id": "uid", "container_name": "app",
			"docker_id": "abc", "host": "node", "container_image": "img:1",
			"labels": map[string]any{"app.kubernetes.io/name": "web", "app": "legacy"},
		}}, true, Meta{Namespace: []byte("shop"), Pod: []byte("web-1"), PodID: []byte("uid"), Container: []byte("app"),
			ContainerID: []byte("abc"), Node: []byte("node"), Image: []byte("img:1")}, "web"},
		{"app_label_fallback", map[string]any{"kubernetes": map[string]any{"labels": map[string]any{"app": "legacy"}}}, true, Meta{}, "legacy"},
		{"no_labels", map[string]any{"kubernetes": map[string]any{"pod_name": "p"}}, true, Meta{Pod: []byte("p")}, ""},
		{"no_kubernetes_map", map[string]any{"log": "x"}, false, Meta{}, ""},
		{"kubernetes_not_a_map", map[string]any{"kubernetes": "x"}, false, Meta{}, ""},
		{"non_string_fields_ignored", map[string]any{"kubernetes": map[string]any{"pod_name": int64(5), "host": "n"}}, true, Meta{Node: []byte("n")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := FromRecord(eventtest.Marshal(tt.body))
			if ok != tt.ok {
				t.Fatalf("ok = %v", ok)
			}
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
