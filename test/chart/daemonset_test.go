package chart

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/lokiserver"
)

// The DaemonSet example's rendered configuration (tail of the node's
// container logs with multiline.parser cri, the kubernetes filter,
// kubeship) over CRI files as a node holds them: every line once with its
// pod's labels and metadata into Loki, a line the runtime split joined,
// and none of the DaemonSet's own pod (Exclude_Path).
func TestRenderedDaemonSetToLoki(t *testing.T) {
	e := newEnv(t)
	// The DaemonSet's own pod, which its Exclude_Path leaves out.
	e.self.Name, e.self.Labels = "kubeship-node-7xk2p", map[string]string{"app.kubernetes.io/name": "kubeship", "app.kubernetes.io/component": "node"}
	if err := fargate.WriteMeta(e.meta, []fargate.Pod{e.self}); err != nil {
		t.Fatal(err)
	}
	s := lokiserver.Shared(t, lokiserver.Options{})
	e.write(30)
	e.writeLong()

	rd, err := ReadFile(filepath.Join(e.root, "conf", "k8s", "ec2-daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := rd.ConfigMap("kubeship-node", "fluent-bit.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.dir, "node")
	// The node's /var/log/containers is e.logs: tail tags a file with its
	// path, dots for slashes, so the kubernetes filter's prefix follows.
	prefix := "kube" + strings.ReplaceAll(e.logs, "/", ".") + "."
	conf, err = Apply(conf, []Mapping{
		{"SERVICE", "", "plugins_file", Set(filepath.Join(dir, "plugins.conf"))},
		{"SERVICE", "", "storage.path", Set(filepath.Join(dir, "storage") + "/")},
		{"SERVICE", "", "http_listen", Set("127.0.0.1")},
		{"SERVICE", "", "http_port", Set(fmt.Sprint(freePortT(t)))},
		{"INPUT", "tail", "path", func(old string) string { return strings.Replace(old, "/var/log/containers", e.logs, 1) }},
		{"INPUT", "tail", "exclude_path", func(old string) string { return strings.Replace(old, "/var/log/containers", e.logs, 1) }},
		{"INPUT", "tail", "db", Set(filepath.Join(dir, "flb_kube.db"))},
		{"INPUT", "tail", "refresh_interval", Set("1")},
		{"FILTER", "kubernetes", "kube_tag_prefix", Set(prefix)},
		{"OUTPUT", "kubeship", "url", Set(s.PushURL())},
		{"OUTPUT", "kubeship", "labels", func(old string) string { return old + ",run=" + e.run }},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The API server is the preload cache, as for the router.
	if conf, err = InsertAfter(conf, "name", "kubernetes", "Kube_URL          http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if conf, err = InsertAfter(conf, "name", "kubernetes", "Kube_Meta_Preload_Cache_Dir "+e.meta); err != nil {
		t.Fatal(err)
	}
	if conf, err = InsertAfter(conf, "name", "tail", "Read_From_Head    On"); err != nil {
		t.Fatal(err)
	}
	e.startAggregator("node", conf)
	e.checkLoki(s, 90*time.Second)
	e.noSelfLines(s)
}

// writeLong writes one line over 16 KiB to the first pod, which the
// runtime splits into P parts and multiline.parser cri joins.
func (e *env) writeLong() {
	e.t.Helper()
	p := e.pods[0]
	l := fargate.Line{Time: time.Now().Add(-time.Minute).Truncate(time.Microsecond), Stream: "stdout",
		Text: fmt.Sprintf("run=%s long ", e.run) + strings.Repeat("x", 2*fargate.MaxCRILine+100)}
	e.lines[l.Text] = l
	e.podOf[l.Text] = p
	if err := fargate.WriteLogs(e.logs, p, []fargate.Line{l}); err != nil {
		e.t.Fatal(err)
	}
}

func freePortT(t *testing.T) int {
	t.Helper()
	p, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
