package annotations

import (
	"encoding/json"
	"fmt"
	"regexp/syntax"
	"strings"
	"testing"
)

// logsOf is a logs annotation holding rules, as a pod owner writes it.
func logsOf(rules ...map[string]string) map[string]any {
	b, _ := json.Marshal([]map[string]any{{"source": "app", "log_processing_rules": rules}})
	return map[string]any{"ad.datadoghq.com/app.logs": string(b)}
}

func exclude(name, pattern string) map[string]string {
	return map[string]string{"type": "exclude_at_match", "name": name, "pattern": pattern}
}

// problemLines returns the Problems lines of a container.
func problemLines(c *Container, namespace, pod, container string) []string {
	var p Problems
	p.Of(c, []byte(namespace), []byte(pod), []byte(container))
	var lines []string
	p.Each(func(line string, _ int) { lines = append(lines, line) })
	return lines
}

// F4: a pattern whose compiled program is large costs CPU on every line
// in proportion to its size (about 1 s per 1 KB line for the reviewer's
// 721-byte pattern): it is skipped and said, the pod's other rules apply.
func TestCostlyPatternsSkipped(t *testing.T) {
	tests := []struct {
		name, pattern, problem string
	}{
		{"large_program_from_a_short_pattern", `.{1000}Z`, "compiled program"},
		{"nested_repeats", `(?:\w{1,100}){10}`, "compiled program"},
		{"huge_pattern", strings.Repeat("a", 12<<10), "pattern of 12288 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Cache
			got := c.Get(annotationsOf(logsOf(exclude("costly", tt.pattern), exclude("ok", "debug"))), []byte("app"))
			if len(got.Rules) != 1 || got.Rules[0].Name != "ok" {
				t.Errorf("rules %+v, want only \"ok\"", got.Rules)
			}
			if len(got.Problems) != 1 || !strings.Contains(got.Problems[0], `rule "costly"`) || !strings.Contains(got.Problems[0], tt.problem) {
				t.Errorf("problems %q, want rule \"costly\" with %q", got.Problems, tt.problem)
			}
		})
	}
}

// F4: a container's rules are bounded in number.
func TestRuleCountBounded(t *testing.T) {
	var rules []map[string]string
	for i := range 40 {
		rules = append(rules, exclude(fmt.Sprint("r", i), fmt.Sprint("x", i)))
	}
	var c Cache
	got := c.Get(annotationsOf(logsOf(rules...)), []byte("app"))
	if len(got.Rules) != 16 {
		t.Errorf("%d rules applied, want 16", len(got.Rules))
	}
	if len(got.Problems) != 1 || !strings.Contains(got.Problems[0], "24 rules") {
		t.Errorf("problems %q, want one saying 24 rules are skipped", got.Problems)
	}
}

// F4: compiled rules are kept across batches and past 64 containers: a
// cluster's containers do not recompile each other's rules out.
func TestCompiledRulesShared(t *testing.T) {
	first := annotationsOf(logsOf(exclude("a", "first")))
	var c1 Cache
	want := c1.Get(first, []byte("app"))
	for i := range 200 {
		c1.Get(annotationsOf(logsOf(exclude("a", fmt.Sprint("other", i)))), []byte("app"))
	}
	var c2 Cache // another batch, another flush
	if got := c2.Get(first, []byte("app")); got != want {
		t.Error("the first container's rules were compiled again")
	}
}

// F8: a problem line names what the pod wrote quoted (a newline cannot start
// a forged line of kubeship's log) and cut (a line stays within 1 KB).
func TestProblemLinesQuotedAndBounded(t *testing.T) {
	forged := "(\n[2026/01/01 00:00:00] [error] [output:kubeship:kubeship.0] Datadog rejected the API key"
	tests := []struct {
		name string
		ann  map[string]any
		pod  string
	}{
		{"newline_in_pattern", logsOf(exclude("x", forged)), ""},
		{"newline_in_pod_name", logsOf(exclude("x", "(unclosed")), "web-1\n[error] forged"},
		{"newline_in_name", logsOf(exclude("x\n[error] forged", "(unclosed")), ""},
		{"newline_in_type", logsOf(map[string]string{"type": "t\n[error] forged", "pattern": "x"}), ""},
		{"huge_pattern", logsOf(exclude("x", "("+strings.Repeat("\n[error] forged", 20_000))), ""},
		{"huge_rule_name", logsOf(exclude(strings.Repeat("n\n", 100_000), "(unclosed")), ""},
		{"many_problems", logsOf(func() (rs []map[string]string) {
			for i := range 16 {
				rs = append(rs, exclude(strings.Repeat("n", 200)+fmt.Sprint(i), "(\n"))
			}
			return rs
		}()...), ""},
		{"huge_tag_name", map[string]any{"ad.datadoghq.com/tags": `{"` + strings.Repeat("t\\n", 5000) + `":1}`}, ""},
		{"json_error", map[string]any{"ad.datadoghq.com/app.logs": "[{\"source\":\n\"[error] forged" + strings.Repeat("x", 5000)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Cache
			got := c.Get(annotationsOf(tt.ann), []byte("app"))
			pod := tt.pod
			if pod == "" {
				pod = "web-1"
			}
			lines := problemLines(got, "shop", pod, "app")
			if len(lines) != 1 {
				t.Fatalf("lines %q, want one", lines)
			}
			if l := lines[0]; strings.ContainsAny(l, "\n\r") || len(l) > 1024 {
				t.Errorf("line of %d bytes with a line break or over 1 KB: %.300q", len(l), l)
			}
		})
	}
}

// F4: mask_sequences finds its matches one after another, and Go's regexp
// (RE2) looks for each match from where the last ended to the end of the
// text when a longer alternative might still match: a(.*b)? over "aaa…"
// scans n²/2 bytes (2.8 s for a 16 KB line). The searches of one value
// are bounded; past the bound, the rest of the value is masked whole, so
// nothing that should be masked leaves.
func TestMaskSearchesBounded(t *testing.T) {
	var c Cache
	rules := c.Get(annotationsOf(logsOf(map[string]string{"type": "mask_sequences", "name": "m", "pattern": "a(.*b)?", "replace_placeholder": "x"})), []byte("app")).Rules
	line := strings.Repeat("a", 4096)
	got, keep := rules.Apply([]byte(line))
	if !keep || strings.Contains(string(got), "a") {
		t.Fatalf("kept %v, %q: an a left unmasked", keep, got)
	}
	if len(got) >= len(line) {
		t.Errorf("%d bytes out: every match was searched for", len(got))
	}
	// A few matches are masked one by one.
	if got, _ := rules.Apply([]byte("a-a-a")); string(got) != "x-x-x" {
		t.Errorf("got %q", got)
	}
}

// The worst rule the budgets admit, by its compiled program: one rule of
// maxRuleInsts instructions, and a container of them up to maxRulesCost.
// Its cost per 1 KB line is BenchmarkRuleCost's (not timed here).
func TestWorstAllowedRule(t *testing.T) {
	worst := `.{253}Z` // each byte of a line steps every instruction
	if _, insts, why := newRule(Exclude, "w", worst, ""); why != "" || insts != maxRuleInsts {
		t.Fatalf("%s: %d instructions, %q; want exactly the limit", worst, insts, why)
	}
	if _, insts, why := newRule(Exclude, "w", `.{254}Z`, ""); why == "" {
		t.Errorf(".{254}Z: %d instructions accepted", insts)
	}
	var rules []map[string]string
	for i := range maxRulesCost/maxRuleInsts + 1 {
		rules = append(rules, exclude(fmt.Sprint("w", i), worst))
	}
	var c Cache
	got := c.Get(annotationsOf(logsOf(rules...)), []byte("app"))
	if len(got.Rules) != maxRulesCost/maxRuleInsts || len(got.Problems) != 1 || !strings.Contains(got.Problems[0], "would cost") {
		t.Errorf("%d rules, problems %q; want %d and the last skipped for its cost", len(got.Rules), got.Problems, maxRulesCost/maxRuleInsts)
	}
	// Datadog's documented rules are admitted, together.
	var c2 Cache
	got = c2.Get(annotationsOf(map[string]any{"ad.datadoghq.com/app.logs": benchRules}), []byte("app"))
	if len(got.Rules) != 3 || len(got.Problems) != 0 {
		t.Errorf("documented rules: %d applied, problems %q", len(got.Rules), got.Problems)
	}
	for _, p := range []string{cardPattern, emailPattern} {
		if _, insts, why := newRule(Mask, "doc", p, "x"); why != "" {
			t.Errorf("documented %.40q: %d instructions, %s", p, insts, why)
		}
	}
}

func TestMaxLen(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		want    int
	}{
		{`abc`, 3}, {`a|bcd`, 3}, {`\d{3}-?\d{2}`, 6}, {`é`, 2}, {`(?i)k`, 3}, {`.`, 4}, {`[a-z]{0,10}`, 10},
		{`a+`, -1}, {`a(.*b)?`, -1}, {`^$`, 0}, {`(?:)*`, 0}, {`x{2,}`, -1},
	} {
		re, err := syntax.Parse(tt.pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := maxLen(re); got != tt.want {
			t.Errorf("maxLen(%q) = %d, want %d", tt.pattern, got, tt.want)
		}
	}
}

// The cache evicts the least recently used containers one by one, within
// its bounds of entries and bytes.
func TestStoreEvictsLeastRecentlyUsed(t *testing.T) {
	s := newStore(3, 1<<20)
	get := func(i int) *Container {
		c := Cache{store: s}
		return c.Get(annotationsOf(logsOf(exclude("r", fmt.Sprint("x", i)))), []byte("app"))
	}
	c0, c1 := get(0), get(1)
	get(2)
	if get(0) != c0 { // 0 is now the most recently used
		t.Fatal("0 evicted")
	}
	get(3) // evicts 1 only
	if n, _ := s.len(); n != 3 {
		t.Errorf("%d entries", n)
	}
	if get(0) != c0 {
		t.Error("0 evicted, not the least recently used")
	}
	if get(1) == c1 {
		t.Error("1 kept past the bound")
	}
	// A bytes bound: each entry is more than a third of it.
	s = newStore(100, 3*containerBytes)
	for i := range 10 {
		get(i)
		if _, n := s.len(); n > 3*containerBytes {
			t.Fatalf("%d bytes kept", n)
		}
	}
}

// Batches of many goroutines share the cache (run with -race).
func TestStoreConcurrent(t *testing.T) {
	s := newStore(8, 1<<20)
	done := make(chan bool)
	for g := range 4 {
		go func() {
			c := Cache{store: s}
			for i := range 200 {
				got := c.Get(annotationsOf(logsOf(exclude("r", fmt.Sprint("x", (i+g)%16)))), []byte("app"))
				if out, keep := got.Rules.Apply([]byte(fmt.Sprint("x", (i+g)%16))); keep {
					t.Errorf("not excluded: %q", out)
				}
			}
			done <- true
		}()
	}
	for range 4 {
		<-done
	}
}

// FuzzMask: the bounded mask is regexp's ReplaceAll, match for match,
// unless it was cut (its searches from a position see the text before it as
// regexp's do: ^, \b, (?m)^, invalid UTF-8).
func FuzzMask(f *testing.F) {
	f.Add(`a(.*b)?`, "x", "a-a-ab")
	f.Add(`\b\w`, "<$0>", "héllo wörld\xff z")
	f.Add(`(?m)^\d+$`, "[$0]", "12\n34\nx5\n")
	f.Add(`(?P<k>\w+)=\S*`, "${k}=*", "a= b=c d==e")
	f.Add(`x*`, "-", "xaxx日本x")
	f.Add(`\Qa)`, "q", "a)a)")
	f.Add(`\B`, "|", "ab cd")
	f.Fuzz(func(t *testing.T, pattern, placeholder, text string) {
		r, _, why := newRule(Mask, "f", pattern, placeholder)
		if why != "" {
			return
		}
		want := r.re.ReplaceAll([]byte(text), r.Placeholder)
		got, cut := r.maskAll([]byte(text))
		if !cut && string(got) != string(want) {
			t.Fatalf("%q on %q: %q, ReplaceAll %q", pattern, text, got, want)
		}
	})
}

// A mask of bounded matches (Datadog's card-number rule) masks every match
// of a line full of them one by one: its searches are charged what they can
// scan, not the rest of the line.
func TestBoundedMaskFindsEveryMatch(t *testing.T) {
	r, _, why := newRule(Mask, "cards", cardPattern, "[card]")
	if why != "" {
		t.Fatal(why)
	}
	line := strings.Repeat("paid 4111111111111111 ok ", 40)
	got, cut := r.maskAll([]byte(line))
	if want := strings.Repeat("paid [card] ok ", 40); cut || string(got) != want {
		t.Errorf("cut %v: %q", cut, got)
	}
}
