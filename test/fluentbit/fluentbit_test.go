package fluentbit

import (
	"slices"
	"testing"
)

// Abridged from Fluent Bit 4.2's --help: bold headings, options before them.
const help = "Usage: fluent-bit [OPTION]\n\n\x1b[1mAvailable Options\x1b[0m\n" +
	"  -c  --config=FILE       specify an optional configuration file\n" +
	"\n\x1b[1mInputs\x1b[0m\n  tail                    Tail files\n  dummy                   Generate dummy data\n" +
	"\n\x1b[1mProcessors\x1b[0m\n  content_modifier        Modify content\n" +
	"\n\x1b[1mFilters\x1b[0m\n  kubernetes              Filter to append Kubernetes metadata\n" +
	"\n\x1b[1mOutputs\x1b[0m\n  null                    Throws away events\n  es                      Elasticsearch\n" +
	"\n\x1b[1mInternal\x1b[0m\n Event Loop  = epoll\n"

func TestMissingPlugins(t *testing.T) {
	have := parseHelp(help)
	for _, p := range []string{"input tail", "input dummy", "filter kubernetes", "output null", "output es"} {
		if !have[p] {
			t.Errorf("parseHelp missed %q: %v", p, have)
		}
	}
	for _, p := range []string{"input -c", "filter content_modifier", "output Event"} {
		if have[p] {
			t.Errorf("parseHelp took %q for a plugin", p)
		}
	}
	tests := []struct {
		config string
		want   []string
	}{
		{"[INPUT]\n    Name tail\n[FILTER]\n    name  Kubernetes\n[OUTPUT]\n    Name kubeship\n", nil},
		{"[SERVICE]\n    Name x\n[INPUT]\n    Name elasticsearch\n[OUTPUT]\n    Name es\n[OUTPUT]\n    Name loki\n[OUTPUT]\n    Name loki\n",
			[]string{"input elasticsearch", "output loki"}},
		{"[INPUT]\n    Name es\n[FILTER]\n    Name null\n", []string{"input es", "filter null"}},
	}
	for _, tt := range tests {
		if got := missingFrom(have, tt.config); !slices.Equal(got, tt.want) {
			t.Errorf("missingFrom(%q) = %v, want %v", tt.config, got, tt.want)
		}
	}
}
