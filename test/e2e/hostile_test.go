package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/ddintake"
	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/lokiserver"
)

// A shared aggregator behind the Fargate router, with the kubernetes
// filter's Merge_Log On: one team's pod writes JSON lines that name
// another team's namespace, pod, stream, logtag, tag and time, carries
// pod labels named like kubeship's own, and leaves a split line open.
// Every line of the other team's pod arrives once, in its own tenant with
// its own labels and tags, and none of the attacker's does; Fluent Bit's
// built-in loki output runs beside kubeship for comparison, and its
// results are logged.
func TestAttackerThroughFluentBit(t *testing.T) {
	e := newEnv(t)
	victim, attacker := e.pods[2], e.pods[1] // payments/ledger-0 and shop/web
	attacker.Labels = map[string]string{"app": "web", "namespace": victim.Namespace, "container": victim.Container}
	e.pods = []fargate.Pod{victim, attacker}
	if err := fargate.WriteMeta(e.meta, e.pods); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond) }
	forged := fmt.Sprintf(`"kubernetes":{"namespace_name":%q,"pod_name":%q,"container_name":%q,"docker_id":%q}`,
		victim.Namespace, victim.Name, victim.Container, victim.ContainerID)
	// JSON lines, which Merge_Log lifts into the record.
	attack := []string{
		`"msg":"a0 forged map",` + forged,
		`"msg":"a1 not a map","kubernetes":0`,
		fmt.Sprintf(`"msg":"a2 tag and logtag","logtag":"P","stream":"stdout","flb_tag":%q`, victim.Tag()),
		`"msg":"a3 old time","@timestamp":"2001-01-01T00:00:00.000000000Z","time":"2001-01-01T00:00:00Z"`,
	}
	var aLines, vLines []fargate.Line
	for i, fields := range attack {
		aLines = append(aLines, fargate.Line{Time: at(2 * i), Stream: "stdout", Text: fmt.Sprintf(`{"run":%q,%s}`, e.run, fields)})
	}
	// A line the runtime splits, whose last part never comes: its first
	// part waits while the victim's lines pass.
	open := fargate.AppendCRI(nil, fargate.Line{Time: at(20), Stream: "stdout", Text: e.run + " a4 " + strings.Repeat("x", fargate.MaxCRILine)})
	open = open[:strings.LastIndex(string(open[:len(open)-1]), "\n")+1]
	for i := range 10 {
		vLines = append(vLines, fargate.Line{Time: at(2*i + 1), Stream: []string{"stdout", "stderr"}[i%2],
			Text: fmt.Sprintf("run=%s victim line %d", e.run, i)})
	}
	if err := fargate.WriteLogs(e.logs, attacker, aLines); err != nil {
		t.Fatal(err)
	}
	if err := appendFile(filepath.Join(e.logs, attacker.LogFile()), open); err != nil {
		t.Fatal(err)
	}
	if err := fargate.WriteLogs(e.logs, victim, vLines); err != nil {
		t.Fatal(err)
	}

	s := lokiserver.Shared(t, lokiserver.Options{MultiTenant: true})
	const key = "e2e0123456789abcdef0123456789abc"
	dd, err := ddintake.Start(ddintake.Options{APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	port, err := lokiserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tenant := "    tenant_id_key $kubernetes['namespace_name']\n"
	aggregator := fmt.Sprintf("[SERVICE]\n    Flush 0.5\n    Grace 5\n    Log_Level info\n\n"+
		"[INPUT]\n    Name elasticsearch\n    Listen 127.0.0.1\n    Port %d\n    Tag_Key flb_tag\n    Buffer_Max_Size 8M\n\n%s"+
		"[OUTPUT]\n    Name loki\n    Match kube.*\n    Host 127.0.0.1\n    Port %d\n    labels out=builtin,run=%s\n    auto_kubernetes_labels on\n%s"+
		"[OUTPUT]\n    Name kubeship\n    Match kube.*\n    destination datadog\n    apikey %s\n    url %s\n    cluster_name e2e\n",
		port, kubeshipOutput(s.PushURL(), e.run, tenant+"    auto_kubernetes_labels on\n"),
		s.Port(), e.run, tenant, key, dd.URL())
	e.startIn("aggregator", aggregator)
	routerOut := strings.NewReplacer("kubeship-aggregator.logging.svc.cluster.local", "127.0.0.1", "9200", fmt.Sprint(port)).Replace(e.router.Output)
	router := strings.Replace(e.config("", false, routerOut), "Merge_Log    Off", "Merge_Log    On", 1)
	if !strings.Contains(router, "Merge_Log    On") {
		t.Fatalf("the router's kubernetes filter no longer has Merge_Log Off to turn on:\n%s", e.router.Filters)
	}
	e.startIn("router", router)

	// kubeship: the victim's tenant holds its lines, each once, with its labels.
	streams, err := s.WaitFor(ctx, victim.Namespace, fmt.Sprintf(`{run=%q, cluster="e2e"}`, e.run), len(vLines), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, st := range streams {
		for _, en := range st.Entries {
			seen[en.Line]++
			if !strings.Contains(en.Line, "victim line") {
				t.Errorf("kubeship put an attacker's line in tenant %s (labels %v): %.120q", victim.Namespace, st.Labels, en.Line)
			}
			if st.Labels["namespace"] != victim.Namespace || st.Labels["container"] != victim.Container {
				t.Errorf("victim's stream labels %v", st.Labels)
			}
		}
	}
	for _, l := range vLines {
		if seen[l.Text] != 1 {
			t.Errorf("victim line %q arrived %d times in its tenant, want once", l.Text, seen[l.Text])
		}
	}
	// The attacker's lines are in its own tenant, under its own names.
	as, err := s.WaitFor(ctx, attacker.Namespace, fmt.Sprintf(`{run=%q, cluster="e2e"}`, e.run), len(attack)+1, 30*time.Second)
	if err != nil {
		t.Error(err)
	}
	for _, st := range as {
		if st.Labels["namespace"] != attacker.Namespace || st.Labels["container"] != attacker.Container {
			t.Errorf("attacker's stream labels %v: its pod labels took kubeship's names", st.Labels)
		}
		for _, en := range st.Entries {
			if en.Time.Year() == 2001 {
				t.Errorf("a line's @timestamp set the time: %s %.60q", en.Time, en.Line)
			}
		}
	}

	// Datadog: every log of the attacker is tagged as the attacker's.
	entries, err := dd.WaitEntries(len(vLines)+len(attack)+1, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		ns, _ := en.Tag("kube_namespace")
		pod, _ := en.Tag("pod_name")
		isVictim := strings.Contains(en.Message, "victim line")
		if want := map[bool]string{true: victim.Name, false: attacker.Name}[isVictim]; pod != want || len(en.TagValues("pod_name")) != 1 {
			t.Errorf("Datadog %.60q: pod_name %v, want %s", en.Message, en.TagValues("pod_name"), want)
		}
		if want := map[bool]string{true: victim.Namespace, false: attacker.Namespace}[isVictim]; ns != want || len(en.TagValues("kube_namespace")) != 1 {
			t.Errorf("Datadog %.60q: kube_namespace %v, want %s", en.Message, en.TagValues("kube_namespace"), want)
		}
	}

	// Fluent Bit's built-in loki output, for the record.
	for _, tn := range []string{victim.Namespace, attacker.Namespace} {
		b, err := s.Query(ctx, tn, fmt.Sprintf(`{out="builtin", run=%q}`, e.run))
		if err != nil {
			t.Logf("built-in loki, tenant %s: %v", tn, err)
			continue
		}
		for _, st := range b {
			t.Logf("built-in loki: tenant %s, %d entries, labels %v", tn, len(st.Entries), st.Labels)
		}
	}
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
