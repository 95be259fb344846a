package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseScales(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		ok   bool
	}{
		{"20,200,2000", []int{20, 200, 2000}, true},
		{" 20, 2000", []int{20, 2000}, true},
		{"20,,200", nil, false},
		{"0", nil, false},
		{"many", nil, false},
	}
	for _, tt := range tests {
		got, err := parseScales(tt.in)
		if (err == nil) != tt.ok || len(got) != len(tt.want) {
			t.Errorf("parseScales(%q) = %v, %v", tt.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("parseScales(%q) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
}

// Instructions come from cachegrind's summary line, or callgrind's totals.
func TestCallgrindTotal(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, text string
		want       int64
		ok         bool
	}{
		{"cachegrind", "desc: I1 cache:\ncmd: fluent-bit -c x\nevents: Ir\nfl=a.c\nfn=main\n3 10\nsummary: 293745532\n", 293745532, true},
		{"callgrind_totals", "events: Ir\nsummary: 5\ntotals: 7\n", 7, true},
		{"callgrind_summary_only", "events: Ir\nsummary: 42\n", 42, true},
		{"no_count", "events: Ir\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := callgrindTotal(path)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("callgrindTotal = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	if _, err := callgrindTotal(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file gave a count")
	}
}

// delivered shows N/N only when every run delivered exactly N records.
func TestDelivered(t *testing.T) {
	rs := []result{{delivered: 10}, {delivered: 10}}
	if got := delivered(rs, 10); got != "10/10" {
		t.Errorf("delivered = %q", got)
	}
	rs = append(rs, result{delivered: 12})
	if got := delivered(rs, 10); got != "10–12/10" {
		t.Errorf("delivered = %q", got)
	}
}

// The corpus splits N evenly over the containers, one log file each.
func TestCorpusOneFilePerContainer(t *testing.T) {
	for _, pods := range []int{20, 200} {
		c, err := writeCorpus(t.TempDir(), 1000, pods)
		if err != nil {
			t.Fatal(err)
		}
		files, err := filepath.Glob(filepath.Join(c.dir, "*.log"))
		if err != nil || len(files) != pods || c.pods != pods {
			t.Fatalf("%d pods: %d files, %d pods, %v", pods, len(files), c.pods, err)
		}
	}
}

// The 32 MB record's table lists the measured rows in order, with what
// each kept.
func TestHugeReport(t *testing.T) {
	runs := map[string]result{
		"kubeship loki": {delivered: 11, huge: hugeUse{before: 38, peak: 199, after: 130}},
		"null":          {delivered: 11, huge: hugeUse{before: 17, peak: 150, after: 100}},
	}
	got := hugeReport(20, runs, []string{"null", "loki-sm", "kubeship loki"})
	for _, want := range []string{"| null | 17 | 150 | 100 | 83 | 11 |\n| kubeship loki | 38 | 199 | 130 | 92 | 11 |\n", "after 20000 records (20 containers)"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "loki-sm") {
		t.Errorf("a row not measured is shown:\n%s", got)
	}
}

// -only picks outputs by name; null, the baseline, always runs.
func TestPicked(t *testing.T) {
	for _, tt := range []struct {
		name, only string
		want       bool
	}{
		{"kubeship loki", "", true},
		{"kubeship loki", "loki-sm,kubeship loki", true},
		{"kubeship loki", "kubeship", false},
		{"null", "loki-sm", true},
	} {
		if got := picked(tt.name, tt.only); got != tt.want {
			t.Errorf("picked(%q, %q) = %v", tt.name, tt.only, got)
		}
	}
}
