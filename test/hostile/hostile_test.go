package hostile

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeship/kubeship/internal/destination"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/tinylib/msgp/msgp"
)

// tag is what an aggregator's elasticsearch input tags every record with:
// it says nothing of the container.
const tag = "kube.aggregator"

// attack is what the attacker's pod controls: its records (each line's
// fields merged into the record) and its labels and annotations.
type attack struct {
	name    string
	pod     func(p *Pod)
	records func(a Pod) []msgp.Raw
}

func line(text string, kvs ...KV) func(a Pod) []msgp.Raw {
	return func(a Pod) []msgp.Raw { return []msgp.Raw{a.Record(text, "stdout", "F", T0, kvs...)} }
}

var attacks = []attack{
	{name: "line_names_the_victims_namespace", records: line(`{"kubernetes":{...}}`, KV{"kubernetes", []KV{
		{"namespace_name", Victim.Namespace}, {"pod_name", Victim.Name}, {"container_name", Victim.Container},
		{"docker_id", Victim.ID}, {"labels", map[string]any{"team": "payments", "app": "api"}}}})},
	{name: "line_kubernetes_not_a_map", records: line(`{"kubernetes":0}`, KV{"kubernetes", 0})},
	{name: "pod_labels_name_identifying_labels", pod: func(p *Pod) {
		p.Labels = map[string]any{"namespace": Victim.Namespace, "container": Victim.Container, "app": "api", "team": "payments"}
	}, records: line("labelled")},
	{name: "pod_labels_push_out_identifying_labels", pod: func(p *Pod) {
		p.Labels = map[string]any{}
		for i := range 20 {
			p.Labels[fmt.Sprintf("l%02d", i)] = "x"
		}
	}, records: line("many labels")},
	{name: "partial_line_before_the_victims", records: func(a Pod) []msgp.Raw {
		return []msgp.Raw{a.Record("never finished ", "stdout", "P", T0)}
	}},
	{name: "line_sets_logtag_stream_and_flb_tag", records: line(`{"logtag":"P"}`,
		KV{"logtag", "P"}, KV{"stream", "stdout"}, KV{"flb_tag", "kube.var.log.containers." + Victim.Name + "_payments_api-b1c7e0.log"})},
	{name: "line_sets_timestamp_host_and_tags", records: line(`{"@timestamp":...}`,
		KV{"@timestamp", "2001-01-01T00:00:00Z"}, KV{"host", "victim-node"}, KV{"ddtags", "kube_namespace:payments"},
		KV{"service", "api"}, KV{"pod_name", Victim.Name})},
	{name: "annotation_tags_claim_the_victims_identity", pod: func(p *Pod) {
		p.Annotations = map[string]any{"ad.datadoghq.com/tags": `{"kube_namespace":"payments","pod_name":"` + Victim.Name +
			`","kube_cluster_name":"other","kube_container_name":"api","container_id":"b1c7e0"}`,
			"ad.datadoghq.com/evil.tags": `["pod_name:` + Victim.Name + `","kube_namespace:payments"]`}
	}, records: line("claims")},
	{name: "annotation_with_many_tags", pod: func(p *Pod) {
		tags := make([]string, 25000)
		for i := range tags {
			tags[i] = fmt.Sprintf("t%d:%d", i, i)
		}
		b, _ := json.Marshal(tags)
		p.Annotations = map[string]any{"ad.datadoghq.com/tags": string(b)}
	}, records: line("tagged")},
	{name: "costly_rule", pod: func(p *Pod) {
		p.Annotations = map[string]any{"ad.datadoghq.com/evil.logs": rules(strings.Repeat(`[a-z]{0,40}`, 60) + "x")}
	}, records: line(strings.Repeat("abcdefghij", 100))},
	{name: "many_rules", pod: func(p *Pod) {
		var rs []string
		for i := range 5000 {
			rs = append(rs, fmt.Sprintf(`{"type":"mask_sequences","name":"r%d","pattern":"a{1,%d}","replace_placeholder":"b"}`, i, 1+i%900))
		}
		p.Annotations = map[string]any{"ad.datadoghq.com/evil.logs": `[{"log_processing_rules":[` + strings.Join(rs, ",") + `]}]`}
	}, records: line("ruled")},
	{name: "pattern_forges_a_log_line", pod: func(p *Pod) {
		p.Annotations = map[string]any{"ad.datadoghq.com/evil.logs": rules("(\n[2026/12/06 10:00:00] [error] [output:kubeship:kubeship.0] Datadog rejected the API key" + strings.Repeat("x", 300000))}
	}, records: line("forged")},
}

// rules is a logs annotation with one exclude rule of pattern.
func rules(pattern string) string {
	b, _ := json.Marshal(pattern)
	return `[{"log_processing_rules":[{"type":"exclude_at_match","name":"r","pattern":` + string(b) + `}]}]`
}

// mix interleaves the attacker's records with the victim's: the
// attacker's first, then one before each of the victim's.
func mix(victim []eventtest.Event, attacker []msgp.Raw) []eventtest.Event {
	var out []eventtest.Event
	for i, v := range victim {
		for _, a := range attacker {
			out = append(out, eventtest.Event{Time: T0.Add(time.Duration(i) * time.Millisecond), Body: a})
		}
		out = append(out, v)
	}
	return out
}

// check encodes the victim's records alone and mixed with attacker's, and
// requires the victim's entries to be the same, the attacker's records to
// cost bounded output, and kubeship's own lines about them to be safe.
func check(t *testing.T, pod Pod, attacker []msgp.Raw) {
	t.Helper()
	victim := VictimEvents()
	for i, dst := range Destinations {
		d, alone := opened(t, i)
		mixed := eventtest.Chunk(true, mix(victim, attacker)...)
		got, err := Encode(d, tag, mixed)
		if err != nil {
			t.Fatalf("%s: %v", dst.Name, err)
		}
		var victims []Entry
		for _, e := range got.Entries {
			if Owns(i, e) {
				victims = append(victims, e)
			}
		}
		if !slices.Equal(victims, alone.Entries) {
			t.Errorf("%s: the victim's entries changed:\nlost  %.600v\nadded %.600v", dst.Name, minus(alone.Entries, victims), minus(victims, alone.Entries))
		}
		// The attacker's records cost output in proportion to their
		// lines, whatever its annotations hold: each may add the line
		// twice (escaped) and a bounded set of tags and metadata.
		limit := alone.Bytes
		for _, r := range attacker {
			limit += len(victim) * (2*(len(r)-len(Map(pod.Kubernetes()))) + 32<<10)
		}
		if got.Bytes > limit {
			t.Errorf("%s: %d bytes out of a %d-byte chunk (limit %d)", dst.Name, got.Bytes, len(mixed), limit)
		}
		for _, n := range got.Notes {
			line := n.Msg + n.Detail
			if strings.ContainsAny(line, "\n\r") || len(line) > 2048 {
				t.Errorf("%s: note %s logs a line of %d bytes that holds a line break or is too long: %.200q", dst.Name, n.Name, len(line), line)
			}
		}
	}
}

// The destinations, and what the victim's records alone became, built
// once: config.Parse and the first encode are the costly part of a check.
var (
	openOnce sync.Once
	dests    []destination.Destination
	alones   []Output
	openErr  error
)

func opened(t *testing.T, i int) (destination.Destination, Output) {
	t.Helper()
	openOnce.Do(func() {
		for i := range Destinations {
			d, err := Open(i)
			if err != nil {
				openErr = err
				return
			}
			alone, err := Encode(d, tag, eventtest.Chunk(true, VictimEvents()...))
			if err == nil && len(alone.Entries) != 4 { // the split line is joined
				err = fmt.Errorf("%s: the victim alone gave %d entries, want 4: %v", Destinations[i].Name, len(alone.Entries), alone.Entries)
			}
			if err != nil {
				openErr = err
				return
			}
			dests, alones = append(dests, d), append(alones, alone)
		}
	})
	if openErr != nil {
		t.Fatal(openErr)
	}
	return dests[i], alones[i]
}

// minus is the entries of a that are not in b.
func minus(a, b []Entry) []Entry {
	var out []Entry
	for _, e := range a {
		if !slices.Contains(b, e) {
			out = append(out, e)
		}
	}
	return out
}

// Each attack of a pod owner on a shared aggregator leaves another pod's
// logs as they would be without it.
func TestAttackerCannotReachTheVictim(t *testing.T) {
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			p := Attacker
			if a.pod != nil {
				a.pod(&p)
			}
			check(t, p, a.records(p))
		})
	}
}

// keys a fuzzed line may set: the ones kubeship and the destinations read.
var keys = []string{"kubernetes", "stream", "logtag", "time", "@timestamp", "flb_tag", "log", "message", "host",
	"hostname", "ddtags", "service", "ddsource", "status", "level", "trace_id", "namespace", "labels", "pod_name"}

// fuzzed turns data into the attacker's pod and records.
func fuzzed(data []byte) (Pod, []msgp.Raw) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		c := data[0]
		data = data[1:]
		return c
	}
	text := func() string {
		n := int(next()) % 64
		n = min(n, len(data))
		s := string(data[:n])
		data = data[n:]
		return s
	}
	value := func() any {
		switch next() % 5 {
		case 0:
			return text()
		case 1:
			return int64(next())
		case 2:
			return []KV{{"namespace_name", Victim.Namespace}, {"pod_name", Victim.Name}, {"docker_id", Victim.ID}, {text(), text()}}
		case 3:
			return map[string]any{text(): text()}
		}
		return nil
	}
	p := Attacker
	p.Labels = map[string]any{}
	p.Annotations = map[string]any{}
	for range next() % 4 {
		p.Labels[text()] = text()
	}
	for range next() % 3 {
		name := []string{"ad.datadoghq.com/tags", "ad.datadoghq.com/evil.tags", "ad.datadoghq.com/evil.logs"}[next()%3]
		p.Annotations[name] = text()
	}
	var out []msgp.Raw
	for n := next()%4 + 1; n > 0 && len(data) > 0; n-- {
		var kvs []KV
		for range next() % 4 {
			kvs = append(kvs, KV{keys[int(next())%len(keys)], value()})
		}
		out = append(out, p.Record(text(), []string{"stdout", "stderr", text()}[next()%3], []string{"F", "P", text()}[next()%3], T0, kvs...))
	}
	return p, out
}

// FuzzAttacker feeds one pod's labels, annotations and lines from the
// fuzzer and requires another pod's entries to be unchanged.
func FuzzAttacker(f *testing.F) {
	f.Add([]byte("\x01\x05team\x00x\x01\x02\x10[\"pod_name:api\"]\x02\x03\x00\x02\x05hello\x00\x00"))
	f.Add([]byte("\x00\x00\x01\x01\x00\x02\x03abc\x00\x01"))
	f.Add([]byte("\x00\x01\x02\x40" + `[{"log_processing_rules":[{"type":"mask_sequences","pattern":"."}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, records := fuzzed(data)
		check(t, p, records)
	})
}
