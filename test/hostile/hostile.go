// Package hostile builds the records of a shared aggregator where one pod is
// an attacker: records as Fluent Bit's CRI parser and kubernetes filter
// (Merge_Log On) leave them, where the line's fields sit between the
// parser's keys and the filter's `kubernetes` map, duplicates kept. The
// tests encode a victim pod's records alone and mixed with the attacker's,
// through each destination as the plugin builds it, and require the
// victim's entries to be the same.
package hostile

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/datadog"
	"github.com/kubeship/kubeship/internal/datadog/datadogtest"
	"github.com/kubeship/kubeship/internal/destination"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/loki"
	"github.com/kubeship/kubeship/internal/loki/lokitest"
	"github.com/tinylib/msgp/msgp"
)

// KV is one map entry; a list of them is a map in that order, duplicates
// kept, as Fluent Bit writes them.
type KV struct {
	K string
	V any // anything eventtest.AppendValue takes, or []KV
}

// Map encodes kvs as a msgpack map in order.
func Map(kvs []KV) msgp.Raw {
	b := msgp.AppendMapHeader(nil, uint32(len(kvs)))
	for _, kv := range kvs {
		b = msgp.AppendString(b, kv.K)
		b = appendAny(b, kv.V)
	}
	return b
}

func appendAny(b []byte, v any) []byte {
	if kvs, ok := v.([]KV); ok {
		return append(b, Map(kvs)...)
	}
	return eventtest.AppendValue(b, v)
}

// Pod is a pod's metadata as the kubernetes filter writes it.
type Pod struct {
	Namespace, Name, Container, ID string
	Labels, Annotations            map[string]any
}

// Kubernetes is the filter's `kubernetes` map of p.
func (p Pod) Kubernetes() []KV {
	k := []KV{
		{"pod_name", p.Name}, {"namespace_name", p.Namespace}, {"pod_id", p.ID + "-uid"},
		{"host", "fargate-ip-10-0-1-2.ec2.internal"}, {"container_name", p.Container},
		{"docker_id", p.ID}, {"container_image", "registry/" + p.Container + ":1"},
	}
	if p.Labels != nil {
		k = append(k, KV{"labels", p.Labels})
	}
	if p.Annotations != nil {
		k = append(k, KV{"annotations", p.Annotations})
	}
	return k
}

// Record is a record of p as the parser and the kubernetes filter with
// Merge_Log On leave it: log (kept), stream, logtag, time, then the line's
// fields, then the filter's kubernetes map.
func (p Pod) Record(log, stream, logtag string, t time.Time, line ...KV) msgp.Raw {
	kvs := []KV{{"log", log}, {"stream", stream}, {"logtag", logtag}, {"time", t.Format(time.RFC3339Nano)}}
	kvs = append(kvs, line...)
	kvs = append(kvs, KV{"kubernetes", p.Kubernetes()})
	return Map(kvs)
}

// Victim is the pod whose logs must stay its own.
var Victim = Pod{Namespace: "payments", Name: "api-7d9f5c6b8-x2x9z", Container: "api", ID: "b1c7e0",
	Labels: map[string]any{"app": "api", "team": "payments", "pod-template-hash": "7d9f5c6b8"},
	Annotations: map[string]any{"ad.datadoghq.com/api.logs": `[{"source":"java","service":"api",` +
		`"log_processing_rules":[{"type":"mask_sequences","name":"card","pattern":"\\d{16}","replace_placeholder":"[card]"}]}]`,
		"ad.datadoghq.com/tags": `{"team":"payments"}`}}

// Attacker is a pod of another team, in its own namespace.
var Attacker = Pod{Namespace: "attacker", Name: "evil-5f6d7c8b9-abcde", Container: "evil", ID: "a0a0a0",
	Labels: map[string]any{"app": "evil"}}

// T0 is the time of the first record.
var T0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// VictimEvents are the victim's records: a plain line, a line split in
// two parts by the runtime, a stderr line and one with a card number its
// own rule masks.
func VictimEvents() []eventtest.Event {
	v := Victim
	recs := []msgp.Raw{
		v.Record("GET /orders 200", "stdout", "F", T0),
		v.Record("first half of a long line, ", "stdout", "P", T0.Add(1*time.Millisecond)),
		v.Record("second half", "stdout", "F", T0.Add(2*time.Millisecond)),
		v.Record("java.lang.IllegalStateException: boom", "stderr", "F", T0.Add(3*time.Millisecond)),
		v.Record("paid with 4111111111111111", "stdout", "F", T0.Add(4*time.Millisecond)),
	}
	out := make([]eventtest.Event, len(recs))
	for i, r := range recs {
		out[i] = eventtest.Event{Time: T0.Add(time.Duration(i) * time.Millisecond), Body: r}
	}
	return out
}

// Destinations are the outputs the tests run, built from keys as the
// plugin builds them. Loki sends each namespace to its own tenant, with
// every pod label as a label and the pods' rules applied.
var Destinations = []struct {
	Name string
	Keys config.Map
}{
	{"loki", config.Map{"url": "http://127.0.0.1:3100/loki/api/v1/push", "tenant_id_key": "$kubernetes['namespace_name']",
		"auto_kubernetes_labels": "on", "pod_log_rules": "on", "labels": "team=$kubernetes['labels']['team']",
		"structured_metadata": "owner=$kubernetes['labels']['team']"}},
	{"datadog", config.Map{"destination": "datadog", "apikey": "0123456789abcdef0123456789abcdef", "cluster_name": "prod"}},
}

// Open builds destination i.
func Open(i int) (destination.Destination, error) {
	c, err := config.Parse(Destinations[i].Keys)
	if err != nil {
		return nil, err
	}
	if c.Destination == config.DestDatadog {
		return datadog.NewDestination(c, "test"), nil
	}
	return loki.NewDestination(c), nil
}

// Entry is one delivered log, reduced to text that compares: where it
// went (tenant, labels or tags), when, and what it says.
type Entry struct {
	Owner string // the Loki tenant, or the Datadog pod_name tag
	Text  string
}

// Output is what one chunk became, and its size uncompressed.
type Output struct {
	Entries []Entry
	Bytes   int
	Notes   []destination.Count
}

// Encode encodes chunk with d and decodes what it would send.
func Encode(d destination.Destination, tag string, chunk []byte) (Output, error) {
	enc, err := d.Encode(tag, chunk)
	if enc.Done != nil {
		defer enc.Done()
	}
	if err != nil {
		return Output{}, err
	}
	out := Output{Notes: enc.Notes}
	for _, r := range enc.Requests {
		if r.Header["Content-Type"] == "application/x-protobuf" {
			pr, size, err := lokitest.Decode(r.Header["Content-Type"], r.Header["Content-Encoding"], r.Body)
			if err != nil {
				return out, err
			}
			out.Bytes += size
			for _, s := range pr.Streams {
				for _, e := range s.Entries {
					md := make([]string, 0, len(e.StructuredMetadata))
					for _, m := range e.StructuredMetadata {
						md = append(md, m.Name+"="+m.Value)
					}
					sort.Strings(md)
					out.Entries = append(out.Entries, Entry{Owner: r.Header["X-Scope-OrgID"],
						Text: fmt.Sprintf("%s %d %q %v", s.Labels, e.Timestamp.UnixNano(), e.Line, md)})
				}
			}
			continue
		}
		raw, err := datadogtest.Body(r.Header["Content-Encoding"], r.Body)
		if err != nil {
			return out, err
		}
		out.Bytes += len(raw)
		logs, err := datadogtest.Logs[map[string]any](raw)
		if err != nil {
			return out, err
		}
		for _, l := range logs {
			owner := ""
			tags, _ := l["ddtags"].(string)
			for _, t := range strings.Split(tags, ",") {
				if p, ok := strings.CutPrefix(t, "pod_name:"); ok {
					owner = p
				}
			}
			text, _ := json.Marshal(l) // map keys sorted
			out.Entries = append(out.Entries, Entry{Owner: owner, Text: string(text)})
		}
	}
	sort.Slice(out.Entries, func(i, j int) bool { return out.Entries[i].Text < out.Entries[j].Text })
	return out, nil
}

// Owns reports whether an entry is delivered as the victim's: to its
// tenant, or with its pod's tags.
func Owns(i int, e Entry) bool {
	if Destinations[i].Name == "loki" {
		return e.Owner == Victim.Namespace
	}
	return e.Owner == Victim.Name
}
