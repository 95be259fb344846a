// Package differential feeds the same records to Fluent Bit's built-in
// outputs and to kubeship configured with the same keys, in one real Fluent
// Bit, and requires that the destination stores the same thing: a Loki
// (streams, lines, timestamps, structured metadata) and the Datadog intake
// (log objects). The README's migration section lists what differs on
// purpose; each difference is named where the comparison allows it.
package differential

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/ddintake"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
	"github.com/kubeship/kubeship/test/lokiserver"
)

// records are the dummy inputs' records: plain, JSON, non-ASCII and extra
// fields, from two pods.
var records = []string{
	`{"log":"plain line","stream":"stdout","kubernetes":{"namespace_name":"shop","pod_name":"web-1","container_name":"web","host":"node-1","labels":{"app":"web","tier":"front"}}}`,
	`{"log":"{\"level\":\"error\",\"msg\":\"boom\"}","stream":"stderr","kubernetes":{"namespace_name":"shop","pod_name":"web-1","container_name":"web","host":"node-1","labels":{"app":"web","tier":"front"}}}`,
	`{"log":"café ✓","stream":"stdout","kubernetes":{"namespace_name":"pay","pod_name":"pay-0","container_name":"worker","host":"node-2","labels":{"app":"pay"}}}`,
	`{"log":"with extra fields","stream":"stdout","user":"alice","count":3,"kubernetes":{"namespace_name":"pay","pod_name":"pay-0","container_name":"worker","host":"node-2","labels":{"app":"pay"}}}`,
}

const samples = 3 // records per dummy input

// pipeline returns a config whose dummy inputs send records to every output.
func pipeline(outputs string) string {
	var b strings.Builder
	b.WriteString("[SERVICE]\n    Flush 1\n    Grace 2\n    Log_Level info\n\n")
	for _, r := range records {
		fmt.Fprintf(&b, "[INPUT]\n    Name dummy\n    Tag kube.diff\n    Samples %d\n    Rate 5\n    Dummy %s\n\n", samples, r)
	}
	return b.String() + outputs
}

func run(t *testing.T, config string) {
	t.Helper()
	bin := fluentbit.Need(t)
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p, err := fluentbit.Start(bin, filepath.Join(root, "build", "out_kubeship.so"), t.TempDir(), config)
	fluentbit.SkipIfMissing(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(2 * time.Second); err != nil {
			t.Errorf("fluent bit: %v\n%s", err, p.Logs())
		}
		if t.Failed() {
			t.Logf("Fluent Bit:\n%s", p.Logs())
		}
	})
}

// Loki: the same keys into the built-in loki output (tenant "builtin") and
// into kubeship with kubernetes_metadata off (tenant "kubeship").
func TestLokiSameKeysSameStreams(t *testing.T) {
	fluentbit.Need(t)
	loki, err := lokiserver.Start(lokiserver.Options{MultiTenant: true})
	if err != nil {
		t.Fatalf("real Loki: %v", err)
	}
	defer loki.Stop()
	// Each case's keys go into both outputs unchanged. drop_single_key is
	// set where a case relies on it: its default differs (README).
	cases := []struct{ name, keys string }{
		{"labels_json", "labels job=$kubernetes['namespace_name'], container=$kubernetes['container_name'], case=labels_json\n" +
			"    remove_keys kubernetes\n    line_format json\n    drop_single_key off"},
		{"metadata_raw_line", "labels case=metadata_raw_line, stream=$stream\n" +
			"    structured_metadata pod=$kubernetes['pod_name'], node=$kubernetes['host']\n" +
			"    remove_keys kubernetes\n    drop_single_key raw"},
		{"label_keys_map_keys", "labels case=label_keys_map_keys\n    label_keys $kubernetes['namespace_name']\n" +
			"    structured_metadata_map_keys $kubernetes['labels']\n    drop_single_key on"},
		{"auto_kubernetes_labels", "labels case=auto_kubernetes_labels\n    auto_kubernetes_labels on\n" +
			"    remove_keys kubernetes, stream\n    drop_single_key raw"},
	}
	want := len(records) * samples
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// One Fluent Bit per case: Fluent Bit's loki output keeps the
			// keys it removes from lines in one thread-local list for all
			// its instances (loki.c, thread_local_remove_mpa), so two loki
			// outputs on one thread remove each other's keys.
			run(t, pipeline(fmt.Sprintf("[OUTPUT]\n    Name loki\n    Match kube.*\n    Host 127.0.0.1\n    Port %d\n    tenant_id builtin\n    %s\n\n"+
				"[OUTPUT]\n    Name kubeship\n    Match kube.*\n    url %s\n    tenant_id kubeship\n    kubernetes_metadata off\n    %s\n",
				loki.Port(), c.keys, loki.PushURL(), c.keys)))
			query := fmt.Sprintf(`{case=%q}`, c.name)
			builtin := lokiEntries(t, loki, "builtin", query, want)
			kubeship := lokiEntries(t, loki, "kubeship", query, want)
			if !reflect.DeepEqual(builtin, kubeship) {
				t.Errorf("Loki stored different entries (labels | time | line | metadata):\nbuilt-in loki:\n  %s\nkubeship:\n  %s",
					strings.Join(builtin, "\n  "), strings.Join(kubeship, "\n  "))
			}
		})
	}
}

// lokiEntries reads a tenant's entries as sorted "labels | time | line |
// metadata" strings. Lines that are JSON are compared as JSON: Fluent Bit
// escapes non-ASCII characters (\u00e9) where kubeship sends UTF-8. What
// Loki adds itself (service_name, detected_level) is left out.
func lokiEntries(t *testing.T, loki *lokiserver.Server, tenant, query string, n int) []string {
	t.Helper()
	streams, err := loki.WaitFor(context.Background(), tenant, query, n, 30*time.Second)
	if err != nil {
		t.Fatalf("tenant %s: %v", tenant, err)
	}
	var out []string
	for _, st := range streams {
		labels := map[string]string{}
		for k, v := range st.Labels {
			if k != "service_name" {
				labels[k] = v
			}
		}
		for _, e := range st.Entries {
			meta := map[string]string{}
			for k, v := range e.Metadata {
				if k != "detected_level" {
					meta[k] = v
				}
			}
			out = append(out, fmt.Sprintf("%v | %s | %s | %v", labels, e.Time.Format(time.RFC3339Nano), canonical(e.Line), meta))
		}
	}
	sort.Strings(out)
	return out
}

// canonical re-encodes a JSON line (keys sorted, UTF-8 unescaped); other
// lines are returned as they are.
func canonical(line string) string {
	var v any
	if json.Unmarshal([]byte(line), &v) != nil {
		return line
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Datadog: the same keys into the built-in datadog output and into kubeship
// (destination datadog, kubernetes_metadata off), each to its own intake.
// Allowed differences, as the README lists them: kubeship adds status (from
// the stream or a JSON level), and the built-in output's User-Agent and
// DD-EVP-ORIGIN headers say Fluent-Bit.
func TestDatadogSameKeysSameLogs(t *testing.T) {
	fluentbit.Need(t)
	const key = "0123456789abcdef0123456789abcdef"
	intakes := map[string]*ddintake.Server{}
	for _, name := range []string{"builtin", "kubeship"} {
		s, err := ddintake.Start(ddintake.Options{APIKey: key})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		intakes[name] = s
	}
	keys := "apikey " + key + "\n    dd_source diffsource\n    dd_service diffservice\n    dd_hostname node-x\n" +
		"    dd_tags env:test,team:a\n    include_tag_key on\n    tag_key fbtag\n    compress gzip"
	port := strings.TrimPrefix(strings.TrimSuffix(intakes["builtin"].URL(), ddintake.Path), "http://127.0.0.1:")
	config := pipeline(fmt.Sprintf("[OUTPUT]\n    Name datadog\n    Match kube.*\n    Host 127.0.0.1\n    Port %s\n    TLS off\n    %s\n\n"+
		"[OUTPUT]\n    Name kubeship\n    Match kube.*\n    destination datadog\n    url %s\n    kubernetes_metadata off\n    %s\n",
		port, keys, intakes["kubeship"].URL(), keys))
	run(t, config)
	want := len(records) * samples
	got := map[string][]string{}
	for name, s := range intakes {
		entries, err := s.WaitEntries(want, 30*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, e := range entries {
			attrs := map[string]any{}
			for k, v := range e.Attrs {
				if k != "status" {
					attrs[k] = v
				}
			}
			b, _ := json.Marshal(attrs)
			got[name] = append(got[name], string(b))
		}
		sort.Strings(got[name])
	}
	if !reflect.DeepEqual(got["builtin"], got["kubeship"]) {
		t.Errorf("the intakes got different log objects (status aside):\nbuilt-in datadog:\n  %s\nkubeship:\n  %s",
			strings.Join(got["builtin"], "\n  "), strings.Join(got["kubeship"], "\n  "))
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
