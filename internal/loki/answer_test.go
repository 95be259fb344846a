package loki

import (
	"strings"
	"testing"
)

// Loki stores the valid entries of a request it answers 400; its answer
// says how many it refused where the refusals are per entry.
func TestRejected(t *testing.T) {
	const stream = `{app="web", namespace="shop"}`
	tests := []struct {
		name    string
		answer  string
		records int
		n       int
		exact   bool
	}{
		{"one_entry_too_old", "entry for stream '" + stream + "' has timestamp too old: 2026-10-01T00:00:00Z, oldest acceptable timestamp is: 2026-11-25T00:00:00Z", 10, 1, true},
		{"grouped_entry_errors", "3 errors like: entry for stream '" + stream + "' has timestamp too old: x; 2 errors like: max entry size '262144' bytes exceeded for stream '" + stream + "' while adding an entry with length '300000' bytes", 10, 5, true},
		{"ingester_out_of_order", "entry with timestamp 2026-12-01 ignored, reason: 'entry too far behind, entry timestamp is: x, oldest acceptable timestamp is: y',\nuser 'fake', total ignored: 4 out of 9 for stream: " + stream, 9, 4, true},
		{"stream_level_error_rejects_the_stream", "stream '" + stream + "' has label value too long: 'xxx'", 10, 10, false},
		{"label_names_is_per_stream", "entry for stream '" + stream + "' has 16 label names; limit 15", 10, 10, false},
		{"mixed_groups", "2 errors like: entry for stream 'a' has timestamp too new: x; 1 errors like: error parsing labels '{a' with error: y", 10, 10, false},
		{"unknown_answer", "something else", 7, 7, false},
		{"never_more_than_sent", "12 errors like: entry for stream 'a' has timestamp too new: x", 10, 10, false},
		{"semicolon_in_a_label_value", "entry for stream '{a=\"x; 3 errors like: y\"}' has timestamp too new: x", 10, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, exact := Rejected(tt.answer, tt.records)
			if n != tt.n || exact != tt.exact {
				t.Errorf("Rejected = %d, %t; want %d, %t", n, exact, tt.n, tt.exact)
			}
		})
	}
	if n, _ := Rejected(strings.Repeat("x", 1<<16), 3); n != 3 {
		t.Errorf("long answer: %d", n)
	}
}

func FuzzRejected(f *testing.F) {
	f.Add("3 errors like: entry for stream 'a' has timestamp too old: x; 1 errors like: y", 5)
	f.Add("user 'u', total ignored: 2 out of 3 for stream: {a=\"b\"}", 3)
	f.Fuzz(func(t *testing.T, answer string, records int) {
		if records < 1 || records > 1<<20 {
			return
		}
		n, exact := Rejected(answer, records)
		if n < 1 || n > records || !exact && n != records {
			t.Fatalf("Rejected(%q, %d) = %d, %t", answer, records, n, exact)
		}
	})
}

// A Loki that refuses structured metadata, or the credentials, gets one
// line naming the keys that fix it; other answers get none.
func TestAdvice(t *testing.T) {
	refused := "stream '{app=\"web\"}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it"
	for _, tt := range []struct {
		status int
		answer string
		want   string // "" for no advice
	}{
		{400, refused, "structured_metadata_defaults off"},
		{400, "entry for stream 'a' has timestamp too old: x", ""},
		{401, "no org id", "tenant_id"},
		{403, "forbidden", "http_user"},
	} {
		a := Advice(tt.status, tt.answer)
		if tt.want == "" && a != "" || !strings.Contains(a, tt.want) {
			t.Errorf("Advice(%d, %q) = %q, want it to hold %q", tt.status, tt.answer, a, tt.want)
		}
	}
}
