package datadog

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/internal/annotations"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/record"
)

// withAnnotations returns a mod that sets the pod's annotations.
func withAnnotations(a map[string]any) func(map[string]any) {
	return func(k map[string]any) { k["annotations"] = a }
}

// problemsOf returns a result's problem lines.
func problemsOf(r result) []string {
	var lines []string
	r.problems.Each(func(line string, _ int) { lines = append(lines, line) })
	return lines
}

// F5: a tags annotation of thousands of tags costs each log that many tags
// (a 250 KB annotation put 6 MB of ddtags on every log, and the intake
// refused each with 413). The annotation's tags are capped, as is ddtags,
// and what is dropped is said.
func TestAnnotationTagsCapped(t *testing.T) {
	for _, n := range []int{200, 25_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			tags := map[string]string{}
			for i := range n {
				tags[fmt.Sprintf("t%05d", i)] = strings.Repeat("v", 40)
			}
			ann, _ := json.Marshal(tags)
			r := encode(t, defaults(), "", body(withAnnotations(map[string]any{"ad.datadoghq.com/tags": string(ann)}), nil))
			l := r.one(t)
			got := tagsOf(l)
			if len(got) > 100 || len(l["ddtags"].(string)) > 4096 {
				t.Errorf("%d tags, %d bytes of ddtags", len(got), len(l["ddtags"].(string)))
			}
			if !slices.Equal(got[:len(deployTags)], deployTags) {
				t.Errorf("the pod's own tags were not kept first: %q", got[:len(deployTags)])
			}
			if p := problemsOf(r); len(p) != 1 || !strings.Contains(p[0], "ad.datadoghq.com/tags") {
				t.Errorf("problems %q, want one about the tags", p)
			}
		})
	}
}

// Tags are deduplicated however many there are (a set past a few dozen).
func TestManyTagsDeduplicated(t *testing.T) {
	var list []string
	for i := range 32 { // the annotation's limit, past the linear search's
		list = append(list, fmt.Sprintf("t%d:v", i%16))
	}
	ann, _ := json.Marshal(list)
	l := encode(t, defaults(), "", body(withAnnotations(map[string]any{"ad.datadoghq.com/tags": string(ann)}), nil)).one(t)
	got := tagsOf(l)
	seen := map[string]bool{}
	for _, tag := range got {
		if seen[tag] {
			t.Errorf("tag %q twice", tag)
		}
		seen[tag] = true
	}
	if !seen["t15:v"] {
		t.Errorf("tags %q lack t15:v", got)
	}
}

// Annotation tags cannot set a tag kubeship derives: namespace, cluster,
// pod, container and image identity, node and ownership come from the
// kubernetes filter and the pod's labels, never from an annotation. env,
// service and version stay allowed (unified service tagging).
func TestAnnotationTagsCannotSetDerivedTags(t *testing.T) {
	o := defaults()
	o.ClusterName = "prod"
	ann := map[string]any{
		"ad.datadoghq.com/tags": `{"kube_namespace":"payments","Kube_Cluster_Name":"other","pod name":"x","kube_deployment":"payments-api",` +
			`"container_id":"1","image_name":"x","kube_app_name":"x","host":"db-1","team":"shop","env":"prod","service":"web","version":"2"}`,
		"ad.datadoghq.com/app.tags": `["kube_namespace:kube-system","kube_ownerref_name:x","tier:web"]`,
	}
	r := encode(t, o, "", body(withAnnotations(ann), nil))
	got := tagsOf(r.one(t))
	for _, tag := range got {
		k, _, _ := strings.Cut(tag, ":")
		switch k {
		case "kube_namespace", "kube_cluster_name", "pod_name", "kube_deployment", "container_id", "image_name", "kube_app_name", "kube_ownerref_name":
			if !slices.Contains(append(deployTags, "kube_cluster_name:prod"), tag) {
				t.Errorf("annotation set %q", tag)
			}
		case "host":
			t.Errorf("annotation set %q", tag)
		}
	}
	for _, want := range []string{"team:shop", "env:prod", "service:web", "version:2", "tier:web"} {
		if !slices.Contains(got, want) {
			t.Errorf("tags %q lack %q", got, want)
		}
	}
	if p := problemsOf(r); len(p) != 1 || !strings.Contains(p[0], `"kube_namespace"`) {
		t.Errorf("problems %q, want one naming the derived tags", p)
	}
}

// labels_as_tags cannot name a derived identity tag either: the value
// would come from a label the pod sets.
func TestLabelsAsTagsCannotSetIdentity(t *testing.T) {
	o := defaults()
	o.LabelsAsTags = map[string]string{"ns": "kube_namespace", "team": "team"}
	got := tagsOf(encode(t, o, "", body(labels(map[string]any{"ns": "kube-system", "team": "a"}), nil)).one(t))
	if slices.Contains(got, "kube_namespace:kube-system") || !slices.Contains(got, "team:a") {
		t.Errorf("tags %q", got)
	}
}

// F7: rules apply to what is sent: the message and every string attribute
// (nested ones included), whatever Merge_Log and Keep_Log left.
func TestRulesApplyToAttributes(t *testing.T) {
	rules := func(rs ...string) func(map[string]any) {
		return withAnnotations(map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[` + strings.Join(rs, ",") + `]}]`})
	}
	mask := `{"type":"mask_sequences","name":"pw","pattern":"password=\\S+","replace_placeholder":"password=***"}`
	excl := `{"type":"exclude_at_match","name":"health","pattern":"GET /healthz"}`
	incl := `{"type":"include_at_match","name":"users","pattern":"user=\\w+"}`
	line := `{"msg":"login password=hunter2","user":"ann"}`
	tests := []struct {
		name   string
		rules  func(map[string]any)
		extra  map[string]any
		sent   bool
		absent []string // substrings that must not be sent
		want   map[string]any
	}{
		{"merge_log_msg_attribute_masked", rules(mask),
			map[string]any{"log": line, "msg": "login password=hunter2", "user": "ann"}, true,
			[]string{"hunter2"}, map[string]any{"msg": "login password=***"}},
		{"nested_attributes_masked", rules(mask),
			map[string]any{"req": map[string]any{"q": []any{"a", "password=hunter2"}, "n": int64(7)}}, true,
			[]string{"hunter2"}, map[string]any{"req": map[string]any{"q": []any{"a", "password=***"}, "n": int64(7)}}},
		{"keep_log_off_masked_without_a_message", rules(mask),
			map[string]any{"log": nil, "msg": "login password=hunter2"}, true,
			[]string{"hunter2"}, map[string]any{"msg": "login password=***"}},
		{"keep_log_off_excluded", rules(excl),
			map[string]any{"log": nil, "path": "GET /healthz"}, false, nil, nil},
		{"merge_log_excluded_by_attribute", rules(excl),
			map[string]any{"log": "ok", "path": "GET /healthz"}, false, nil, nil},
		{"include_matching_only_an_attribute", rules(incl),
			map[string]any{"log": "login", "who": "user=ann"}, true, nil, map[string]any{"message": "login"}},
		{"include_matching_nothing", rules(incl),
			map[string]any{"log": "login", "who": "ann"}, false, nil, nil},
		{"record_message_field_without_log_masked", rules(mask),
			map[string]any{"log": nil, "message": "password=hunter2"}, true, []string{"hunter2"}, map[string]any{"message": "password=***"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := encode(t, defaults(), "", body(tt.rules, tt.extra))
			if sent := len(r.logs) == 1; sent != tt.sent {
				t.Fatalf("sent %v, want %v: %v", sent, tt.sent, r.logs)
			}
			if !tt.sent && r.stats.Filtered != 1 {
				t.Errorf("stats %+v, want 1 filtered", r.stats)
			}
			for _, raw := range r.raw {
				for _, s := range tt.absent {
					if strings.Contains(string(raw), s) {
						t.Errorf("%q sent: %s", s, raw)
					}
				}
			}
			if tt.sent {
				l := r.logs[0]
				for k, want := range tt.want {
					if got := l[k]; !equalJSON(got, want) {
						t.Errorf("%s = %v, want %v", k, got, want)
					}
				}
			}
		})
	}
}

// A record's `host` would be taken for the log's host by the intake's host
// remapper: like `hostname`, it leaves when kubeship sets the hostname.
func TestHostAttributeDoesNotOverrideHostname(t *testing.T) {
	l := encode(t, defaults(), "", body(nil, map[string]any{"host": "db-1.other-team", "hostname": "x"})).one(t)
	if _, ok := l["host"]; ok || l["hostname"] != node {
		t.Errorf("host %v, hostname %v", l["host"], l["hostname"])
	}
	o := defaults()
	o.KubernetesMetadata = false // no hostname set: the record's host stays
	l = encode(t, o, "", map[string]any{"log": "x", "host": "db-1"}).one(t)
	if l["host"] != "db-1" {
		t.Errorf("host %v", l["host"])
	}
}

// F8: the problem line of a pattern with a newline stays one line.
func TestProblemLineOfForgedPattern(t *testing.T) {
	ann := map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[{"type":"exclude_at_match","name":"x","pattern":"(\n[error] Datadog rejected the API key"}]}]`}
	p := problemsOf(encode(t, defaults(), "", body(withAnnotations(ann), nil)))
	if len(p) != 1 || strings.Contains(p[0], "\n") || len(p[0]) > 1024 {
		t.Errorf("problems %q", p)
	}
}

// A mask that reaches its bound on a text masks the rest of it whole, and
// the log is counted.
func TestMaskedToEndCounted(t *testing.T) {
	ann := map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[{"type":"mask_sequences","name":"m","pattern":"a(.*b)?","replace_placeholder":"x"}]}]`}
	r := encode(t, defaults(), "", body(withAnnotations(ann), map[string]any{"log": strings.Repeat("a-", 500)}), body(withAnnotations(ann), map[string]any{"log": "a-a"}))
	if len(r.logs) != 2 || strings.Contains(r.logs[0]["message"].(string), "a") || r.logs[1]["message"] != "x-x" {
		t.Errorf("logs %v", r.logs)
	}
	if r.stats.MaskedToEnd != 1 {
		t.Errorf("stats %+v, want 1 masked to the end", r.stats)
	}
}

// FuzzAppendMasked: with rules that change nothing, the attributes a pod's
// rules render are record.AppendJSON's, byte for byte.
func FuzzAppendMasked(f *testing.F) {
	f.Add(eventtest.Marshal(map[string]any{"a": []any{int64(-5), 1.5, nil, true, "x\n", map[string]any{"k": []byte{0xff}}}}))
	f.Add([]byte{0x81, 0x01, 0xa1, 'v'})                          // an integer key
	f.Add([]byte{0x81, 0xd6, 0x05, 1, 2, 3, 4, 0xc0})             // an extension key
	f.Add([]byte{0x92, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1, 0xc0}) // NaN
	f.Add([]byte{0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 2})             // Fluent Bit time
	f.Fuzz(func(t *testing.T, v []byte) {
		o := annotations.Rules(nil).Start()
		got, rest, err := appendMasked(nil, v, &o, 0)
		want, werr := record.AppendJSON(nil, v)
		if (err == nil) != (werr == nil) {
			// AppendJSON reads one value and ignores what follows it.
			t.Fatalf("error %v, AppendJSON's %v", err, werr)
		}
		if err == nil && (string(got) != string(want) || len(rest) > len(v)) {
			t.Fatalf("%q, AppendJSON %q", got, want)
		}
	})
}

// The tag list keeps the first of each tag, in order, whether it searches
// linearly or through its hash set, and drops what is over its bounds.
func TestTagListDedupe(t *testing.T) {
	var l tagList
	for round := range 3 {
		l.reset()
		var want []string
		seen := map[string]bool{}
		dropped := 0
		for i := range 300 {
			tag := fmt.Sprintf("t%d:%s", (i*7+round)%130, strings.Repeat("v", i%3))
			l.addTag(tag)
			switch {
			case seen[tag]:
			case len(want) >= maxLogTags || len(strings.Join(append(want, tag), ",")) > maxTagsBytes:
				dropped++
			default:
				seen[tag] = true
				want = append(want, tag)
			}
		}
		if got := string(l.buf); got != strings.Join(want, ",") || l.dropped != dropped {
			t.Fatalf("round %d: %d dropped (want %d)\n%s\nwant\n%s", round, l.dropped, dropped, got, strings.Join(want, ","))
		}
	}
}
