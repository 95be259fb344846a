package main

import "testing"

func TestParseStat(t *testing.T) {
	tests := []struct {
		stat      string
		name      string
		user, sys float64
	}{
		{"1234 (flb-pipeline) S 1 1234 1234 0 -1 4194368 100 0 0 0 169 46 0 0 20 0 9 0", "flb-pipeline", 1.69, 0.46},
		{"77 (monkey: wrk/0) R 1 77 77 0 -1 0 0 0 0 0 2 1 0 0", "monkey: wrk/0", 0.02, 0.01},
		{"9 (a) (b)) S 1 9 9 0 -1 0 0 0 0 0 300 0 0 0", "a) (b)", 3, 0},
	}
	for _, tt := range tests {
		name, user, sys := parseStat(tt.stat)
		if name != tt.name || user != tt.user || sys != tt.sys {
			t.Errorf("parseStat(%q) = %q, %v, %v; want %q, %v, %v", tt.stat, name, user, sys, tt.name, tt.user, tt.sys)
		}
	}
}

func TestStatusNumber(t *testing.T) {
	status := "Name:\tfluent-bit\nVmHWM:\t  104236 kB\nvoluntary_ctxt_switches:\t7350\nnonvoluntary_ctxt_switches:\t100\n"
	for key, want := range map[string]float64{"VmHWM": 104236, "voluntary_ctxt_switches": 7350,
		"nonvoluntary_ctxt_switches": 100, "VmRSS": 0} {
		if got := statusNumber(status, key); got != want {
			t.Errorf("statusNumber(%q) = %v, want %v", key, got, want)
		}
	}
}
