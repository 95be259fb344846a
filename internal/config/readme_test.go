package config

import (
	"os"
	"strings"
	"testing"
)

// keyTable renders the keys of one destination ("" for the common keys) as
// one of the README's Markdown tables.
func keyTable(dest string) string {
	var b strings.Builder
	b.WriteString("| key | default | meaning |\n|---|---|---|\n")
	for _, k := range Keys {
		if k.Dest != dest {
			continue
		}
		name := "`" + k.Name + "`"
		for _, a := range k.Aliases {
			name += ", `" + a + "`"
		}
		def := ""
		if k.Default != "" {
			def = "`" + k.Default + "`"
		}
		b.WriteString("| " + name + " | " + def + " | " + k.Doc + " |\n")
	}
	return b.String()
}

// The README's key tables must list exactly the keys the code reads.
func TestREADMEKeyTables(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	for _, table := range []struct{ marker, dest string }{{"common", ""}, {"loki", DestLoki}, {"datadog", DestDatadog}} {
		start, end := "<!-- keys:"+table.marker+":start -->\n", "<!-- keys:"+table.marker+":end -->"
		i, j := strings.Index(s, start), strings.Index(s, end)
		if i < 0 || j < i {
			t.Errorf("README.md lacks the %q ... %q markers", start, end)
			continue
		}
		got, want := s[i+len(start):j], keyTable(table.dest)
		if got == want {
			continue
		}
		if os.Getenv("UPDATE_README") != "" {
			s = s[:i+len(start)] + want + s[j:]
			continue
		}
		t.Errorf("README.md %s key table differs from internal/config/keys.go; run `UPDATE_README=1 go test ./internal/config` or replace it with:\n%s", table.marker, want)
	}
	if os.Getenv("UPDATE_README") != "" {
		if err := os.WriteFile("../../README.md", []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
