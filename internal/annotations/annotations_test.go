package annotations

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/internal/event/eventtest"
)

// annotationsOf encodes a pod's annotations as the kubernetes filter does.
func annotationsOf(m map[string]any) []byte { return eventtest.Marshal(m) }

func TestRead(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]any
		want        Container
		problems    []string // substrings, one per problem
	}{
		{"none", map[string]any{"Logging": "LoggingEnabled"}, Container{}, nil},
		{"logs_source_and_service", map[string]any{"ad.datadoghq.com/app.logs": `[{"source":"nginx","service":"web"}]`},
			Container{Source: []byte("nginx"), Service: []byte("web")}, nil},
		{"other_containers_annotations_ignored", map[string]any{
			"ad.datadoghq.com/sidecar.logs": `[{"source":"envoy"}]`, "ad.datadoghq.com/sidecar.tags": `{"a":"b"}`,
			"ad.datadoghq.com/apps.tags": `{"a":"b"}`,
		}, Container{}, nil},
		{"pod_then_container_tags", map[string]any{
			"ad.datadoghq.com/tags":     `{"team":"payments","tier":["web","edge"]}`,
			"ad.datadoghq.com/app.tags": `{"team":"checkout"}`,
		}, Container{Tags: [][2]string{{"team", "payments"}, {"tier", "web"}, {"tier", "edge"}, {"team", "checkout"}}}, nil},
		{"tags_as_a_list", map[string]any{"ad.datadoghq.com/app.tags": `["team:payments","solo"]`},
			Container{Tags: [][2]string{{"team", "payments"}, {"solo", ""}}}, nil},
		{"malformed_tags", map[string]any{"ad.datadoghq.com/tags": `{"team":`},
			Container{}, []string{"ad.datadoghq.com/tags"}},
		{"malformed_logs", map[string]any{"ad.datadoghq.com/app.logs": `[{"source":`},
			Container{}, []string{"ad.datadoghq.com/app.logs"}},
		{"rules_in_order", map[string]any{"ad.datadoghq.com/app.logs": `[{"source":"java","log_processing_rules":[
			{"type":"exclude_at_match","name":"no_health","pattern":"GET /healthz"},
			{"type":"mask_sequences","name":"cards","pattern":"\\d{4}-\\d{4}-\\d{4}-\\d{4}","replace_placeholder":"[card]"},
			{"type":"include_at_match","name":"only_users","pattern":"user"}]}]`},
			Container{Source: []byte("java"), Rules: Rules{
				{Type: Exclude, Name: "no_health"}, {Type: Mask, Name: "cards", Placeholder: []byte("[card]")}, {Type: Include, Name: "only_users"},
			}}, nil},
		{"bad_rules_skipped_others_kept", map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[
			{"type":"exclude_at_match","name":"broken","pattern":"(unclosed"},
			{"type":"drop_everything","name":"unknown","pattern":"x"},
			{"type":"multi_line","name":"stack","pattern":"^\\d"},
			{"type":"exclude_at_match","name":"empty"},
			{"type":"exclude_at_match","name":"ok","pattern":"debug"}]}]`},
			Container{Rules: Rules{{Type: Exclude, Name: "ok"}}},
			[]string{`rule "broken"`, `rule "unknown"`, `rule "empty"`}},
		{"multi_line_the_last_applies", map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[
			{"type":"multi_line","name":"first","pattern":"\\["},
			{"type":"exclude_at_match","name":"ok","pattern":"debug"},
			{"type":"multi_line","name":"date","pattern":"\\d{4}-\\d{2}-\\d{2}"}]}]`},
			Container{Rules: Rules{{Type: Exclude, Name: "ok"}}},
			[]string{`rule "first": a later multi_line rule replaces it`}},
		{"multi_line_invalid_skipped", map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[
			{"type":"multi_line","name":"broken","pattern":"(\\d"}]}]`},
			Container{}, []string{`rule "broken": pattern is not a valid RE2`}},
		{"multi_line_over_the_program_budget", map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[
			{"type":"multi_line","name":"huge","pattern":".{300}Z"}]}]`},
			Container{}, []string{`rule "huge": compiled program of`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Cache
			got := c.Get(annotationsOf(tt.annotations), []byte("app"))
			if len(got.Problems) != len(tt.problems) {
				t.Fatalf("problems %q, want %d like %q", got.Problems, len(tt.problems), tt.problems)
			}
			for i, p := range tt.problems {
				if !strings.Contains(got.Problems[i], p) {
					t.Errorf("problem %q lacks %q", got.Problems[i], p)
				}
			}
			// What is compared: the exported fields, without the problems
			// and the compiled patterns.
			cmp := Container{Source: got.Source, Service: got.Service, Tags: got.Tags}
			for _, r := range got.Rules {
				if r.re == nil || r.Type == Mask && r.after == nil {
					t.Errorf("rule %q has no pattern", r.Name)
				}
				cmp.Rules = append(cmp.Rules, Rule{Type: r.Type, Name: r.Name, Placeholder: r.Placeholder})
			}
			if !reflect.DeepEqual(cmp, tt.want) {
				t.Errorf("got %+v, want %+v", cmp, tt.want)
			}
			// multi_line: the last rule's pattern, anchored as the Agent does.
			wantMultiLine := map[string]string{"bad_rules_skipped_others_kept": `^^\d`,
				"multi_line_the_last_applies": `^\d{4}-\d{2}-\d{2}`}[tt.name]
			if (got.MultiLine == nil) != (wantMultiLine == "") || got.MultiLine != nil && got.MultiLine.String() != wantMultiLine {
				t.Errorf("MultiLine %v, want %q", got.MultiLine, wantMultiLine)
			}
			if again := c.Get(annotationsOf(tt.annotations), []byte("app")); again != got {
				t.Error("the same annotations are parsed again")
			}
		})
	}
}

// The Agent's semantics: rules apply to the message in order; a match of
// exclude_at_match drops it, a miss of include_at_match drops it, and
// mask_sequences replaces every match.
func TestApply(t *testing.T) {
	var c Cache
	rules := c.Get(annotationsOf(map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[
		{"type":"exclude_at_match","name":"no_health","pattern":"GET /healthz"},
		{"type":"mask_sequences","name":"token","pattern":"token=\\w+","replace_placeholder":"token=[masked]"},
		{"type":"include_at_match","name":"only_api","pattern":"/api/"}]}]`}), []byte("app")).Rules
	tests := []struct {
		msg  string
		want string
		keep bool
	}{
		{"GET /healthz 200", "", false},
		{"GET /api/cart token=abc123 200", "GET /api/cart token=[masked] 200", true},
		{"GET /api/a token=x token=y", "GET /api/a token=[masked] token=[masked]", true},
		{"GET /static/app.js", "", false},
		{"GET /api/cart 200", "GET /api/cart 200", true},
	}
	for _, tt := range tests {
		got, keep := rules.Apply([]byte(tt.msg))
		if keep != tt.keep || keep && string(got) != tt.want {
			t.Errorf("Apply(%q) = %q, %v; want %q, %v", tt.msg, got, keep, tt.want, tt.keep)
		}
	}
	if got, keep := Rules(nil).Apply([]byte("x")); !keep || string(got) != "x" {
		t.Errorf("no rules: %q, %v", got, keep)
	}
}

// Applying rules that do not match allocates nothing (the common case).
func TestApplyWithoutMatchDoesNotAllocate(t *testing.T) {
	if race {
		t.Skip("under the race detector, sync.Pool drops values and regexp allocates")
	}
	var c Cache
	rules := c.Get(annotationsOf(map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[
		{"type":"exclude_at_match","name":"no_health","pattern":"GET /healthz"},
		{"type":"mask_sequences","name":"token","pattern":"token=\\w+","replace_placeholder":"[masked]"}]}]`}), []byte("app")).Rules
	msg := []byte("GET /api/cart 200")
	if n := testing.AllocsPerRun(100, func() { rules.Apply(msg) }); n != 0 {
		t.Errorf("%v allocations per message", n)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(`[{"source":"a","log_processing_rules":[{"type":"mask_sequences","pattern":"a+","replace_placeholder":"b"}]}]`, `{"t":"v"}`, "xaay")
	f.Add(`[{"log_processing_rules":[{"type":"include_at_match","pattern":"(?i)x"}]}]`, `["a:b"]`, "X")
	f.Add(`[{"log_processing_rules":[{"type":"exclude_at_match","name":"a\nb","pattern":"(\n[error] x"},{"type":"x\ny"}]}]`, `{"a\nb":1}`, "")
	f.Add(`[{"log_processing_rules":[{"type":"mask_sequences","pattern":"a(.*b)?","replace_placeholder":"$1"}]}]`, `[]`, "aaaaaaaaaaaaa")
	f.Fuzz(func(t *testing.T, logs, tags, msg string) {
		var c Cache
		got := c.Get(annotationsOf(map[string]any{"ad.datadoghq.com/app.logs": logs, "ad.datadoghq.com/app.tags": tags}), []byte("app"))
		out, keep := got.Rules.Apply([]byte(msg))
		if len(got.Rules) == 0 && (!keep || string(out) != msg) {
			t.Errorf("no rules changed %q to %q, %v", msg, out, keep)
		}
		// The budgets hold, and the problem line is one line of at most
		// maxLineBytes.
		cost := 0
		for _, r := range got.Rules {
			_, insts, why := newRule(r.Type, r.Name, r.re.String(), "")
			if why != "" || insts > maxRuleInsts {
				t.Errorf("rule %q applied: %d instructions, %s", r.Name, insts, why)
			}
			cost += ruleCost(r.Type, insts)
		}
		if len(got.Rules) > maxRules || cost > maxRulesCost || len(got.Tags) > maxTags {
			t.Errorf("%d rules of cost %d, %d tags", len(got.Rules), cost, len(got.Tags))
		}
		var p Problems
		p.Of(got, []byte("ns"), []byte("pod"), []byte("app"))
		p.Each(func(line string, _ int) {
			if len(line) > maxLineBytes || strings.ContainsAny(line, "\r\n") {
				t.Errorf("problem line of %d bytes: %q", len(line), line)
			}
		})
	})
}

// A placeholder may name the match's groups, as in the Agent (Regexp.Expand).
func TestMaskPlaceholderExpandsGroups(t *testing.T) {
	var c Cache
	rules := c.Get(annotationsOf(map[string]any{"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[
		{"type":"mask_sequences","name":"keys","pattern":"(password|token)=\\S+","replace_placeholder":"${1}=***"}]}]`}), []byte("app")).Rules
	if got, _ := rules.Apply([]byte("login password=hunter2 token=abc")); string(got) != "login password=*** token=***" {
		t.Errorf("got %q", got)
	}
}

// Problems are one line per container with its records, whatever the number of lookups.
func TestProblems(t *testing.T) {
	var c Cache
	bad := c.Get(annotationsOf(map[string]any{"ad.datadoghq.com/tags": "{"}), []byte("app"))
	good := c.Get(annotationsOf(map[string]any{"ad.datadoghq.com/tags": `{"a":"b"}`}), []byte("app"))
	var p Problems
	for range 3 {
		p.Count(p.Of(bad, []byte("shop"), []byte("web-1"), []byte("app")))
		p.Count(p.Of(good, []byte("shop"), []byte("web-2"), []byte("app")))
	}
	var got []string
	p.Each(func(line string, n int) { got = append(got, fmt.Sprintf("%d %s", n, line)) })
	if len(got) != 1 || !strings.HasPrefix(got[0], "3 pod shop/web-1, container app: ad.datadoghq.com/tags: want a JSON object") {
		t.Errorf("problems %q", got)
	}
	p.Reset()
	p.Each(func(string, int) { t.Error("a problem after Reset") })
}
