package config

import (
	"fmt"
	"strings"
	"sync"
)

// Fluent Bit does not tell a Go plugin which keys an [OUTPUT] section set: it
// can only ask for a key by name. So unknown keys are found by asking for every
// near miss of a known key (one edit away: a letter dropped, added, changed or
// two swapped, '_' for '.', ...). That catches the typos that matter, e.g.
// `tls_verify` or `lable_keys`, at the cost of a few tens of thousands of
// lookups, once, at start-up.

const keyAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789_.-"

// unknownKeys reports the first near miss of a known key that is set.
func (r *reader) unknownKeys() error {
	for _, m := range nearMisses() {
		if v := r.g.Get(m.probe); v != "" {
			return fmt.Errorf("unknown key %q: did you mean %q?", m.probe, m.key)
		}
	}
	return nil
}

// nearMiss is a string one edit away from a known key that is not a key.
type nearMiss struct{ probe, key string }

// nearMisses lists them once: building the list was 7.8 MB of allocations,
// and most of the time of a Parse (9 ms, which made FuzzParse crawl).
var nearMisses = sync.OnceValue(func() []nearMiss {
	known := map[string]bool{}
	for _, k := range Keys {
		known[k.Name] = true
		for _, a := range k.Aliases {
			known[strings.ToLower(a)] = true
		}
	}
	var out []nearMiss
	for _, k := range Keys {
		for _, name := range append([]string{k.Name}, k.Aliases...) {
			for _, probe := range edits(strings.ToLower(name)) {
				if !known[probe] {
					out = append(out, nearMiss{probe, k.Name})
				}
			}
		}
	}
	return out
})

// edits returns the distinct strings one edit away from s.
func edits(s string) []string {
	seen := map[string]bool{s: true}
	var out []string
	add := func(e string) {
		if !seen[e] && e != "" {
			seen[e] = true
			out = append(out, e)
		}
	}
	for i := 0; i <= len(s); i++ {
		head, tail := s[:i], s[i:]
		if tail != "" {
			add(head + tail[1:]) // deletion
		}
		if len(tail) > 1 {
			add(head + tail[1:2] + tail[:1] + tail[2:]) // transposition
		}
		for _, c := range keyAlphabet {
			if tail != "" {
				add(head + string(c) + tail[1:]) // substitution
			}
			add(head + string(c) + tail) // insertion
		}
	}
	return out
}
