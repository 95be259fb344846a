package annotations

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchLine is a 1 KB access-log-like line that matches none of benchRules.
var benchLine = []byte(strings.Repeat("GET /api/v1/orders/12345 200 user=alice agent=curl/8.0 ", 19)[:1024])

// Datadog's documented masks (Advanced Log Collection, and Commonly used
// log processing rules): card numbers and RFC 5322 e-mail addresses, each
// 117 instructions compiled.
const (
	cardPattern  = `(?:4[0-9]{12}(?:[0-9]{3})?|[25][1-7][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})`
	emailPattern = `(?:[a-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+)*|"(?:[\x01-\x08\x0b\x0c\x0e-\x1f\x21\x23-\x5b\x5d-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*")@(?:(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|\[(?:(?:(2(5[0-5]|[0-4][0-9])|1[0-9][0-9]|[1-9]?[0-9]))\.){3}(?:(2(5[0-5]|[0-4][0-9])|1[0-9][0-9]|[1-9]?[0-9])|[a-z0-9-]*[a-z0-9]:(?:[\x01-\x08\x0b\x0c\x0e-\x1f\x21-\x5a\x53-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])+)\])`
)

// benchRules are rules of the shapes Datadog's documentation shows: an
// exclusion by literal, a card-number mask and a token mask.
var benchRules = func() string {
	b, _ := json.Marshal([]any{map[string]any{"log_processing_rules": []map[string]string{
		{"type": "exclude_at_match", "name": "no_health", "pattern": "GET /healthz"},
		{"type": "mask_sequences", "name": "cards", "pattern": cardPattern, "replace_placeholder": "[card]"},
		{"type": "mask_sequences", "name": "token", "pattern": `token=\w+`, "replace_placeholder": "token=[masked]"},
	}}})
	return string(b)
}()

// BenchmarkApply is the cost of a pod's rules on a 1 KB line that none
// matches, the common case.
//
//	go test -run '^$' -bench 'Apply' -benchmem ./internal/annotations
func BenchmarkApply(b *testing.B) {
	var c Cache
	rules := c.Get(annotationsOf(map[string]any{"ad.datadoghq.com/app.logs": benchRules}), []byte("app")).Rules
	if len(rules) != 3 {
		b.Fatalf("%d rules", len(rules))
	}
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		if _, keep := rules.Apply(benchLine); !keep {
			b.Fatal("excluded")
		}
	}
}

// BenchmarkGet is a cache hit: what every new pod of a batch costs.
func BenchmarkGet(b *testing.B) {
	var c Cache
	ann := annotationsOf(map[string]any{"ad.datadoghq.com/app.logs": benchRules, "ad.datadoghq.com/tags": `{"team":"shop"}`, "Logging": "LoggingEnabled"})
	c.Get(ann, []byte("app"))
	b.ReportAllocs()
	for b.Loop() {
		c.Get(ann, []byte("app"))
	}
}

// BenchmarkRuleCost is the CPU the budgets allow per 1 KB line, the figures
// behind budget.go (reported as µs/KB):
//
//	go test -run '^$' -bench 'RuleCost' ./internal/annotations
func BenchmarkRuleCost(b *testing.B) {
	worst := `.{253}Z` // maxRuleInsts instructions, all live on a line without Z
	as := func(typ string, patterns ...string) map[string]any {
		var rs []map[string]string
		for i, p := range patterns {
			rs = append(rs, map[string]string{"type": typ, "name": string(rune('a' + i)), "pattern": p, "replace_placeholder": "x"})
		}
		return logsOf(rs...)
	}
	aaa := []byte(strings.Repeat("a", 1024))
	for _, c := range []struct {
		name string
		ann  map[string]any
		line []byte
	}{
		{"documented_rules", map[string]any{"ad.datadoghq.com/app.logs": benchRules}, benchLine},
		{"documented_card_mask", as("mask_sequences", cardPattern), benchLine},
		{"documented_email_mask", as("mask_sequences", emailPattern), benchLine},
		{"worst_rule", as("exclude_at_match", worst), benchLine},
		{"worst_container", as("exclude_at_match", worst, worst, worst, worst), benchLine},
		{"mask_rescans_bounded", as("mask_sequences", `a(.*b)?`), aaa},
		{"mask_rescans_bounded_large", as("mask_sequences", `a(?:.{245}b)?`), aaa},
	} {
		b.Run(c.name, func(b *testing.B) {
			var cache Cache
			got := cache.Get(annotationsOf(c.ann), []byte("app"))
			if len(got.Problems) > 0 {
				b.Fatal(got.Problems)
			}
			for b.Loop() {
				got.Rules.Apply(c.line)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(c.line))*1024, "µs/KB")
		})
	}
}
