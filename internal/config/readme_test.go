package config

import (
	"os"
	"strings"
	"testing"
)

// keyTable renders the keys of one destination ("" for the common keys) as
// one of docs/configuration.md's Markdown tables.
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

// docs/configuration.md's key tables list exactly the keys the code reads.
// UPDATE_README=1 (or UPDATE_DOCS=1) rewrites them from Keys.
func TestConfigurationKeyTables(t *testing.T) {
	const page = "../../docs/configuration.md"
	update := os.Getenv("UPDATE_README") != "" || os.Getenv("UPDATE_DOCS") != ""
	doc, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	for _, table := range []struct{ marker, dest string }{{"common", ""}, {"loki", DestLoki}, {"datadog", DestDatadog}} {
		start, end := "<!-- keys:"+table.marker+":start -->\n", "<!-- keys:"+table.marker+":end -->"
		i, j := strings.Index(s, start), strings.Index(s, end)
		if i < 0 || j < i {
			t.Errorf("docs/configuration.md lacks the %q ... %q markers", start, end)
			continue
		}
		got, want := s[i+len(start):j], keyTable(table.dest)
		if got == want {
			continue
		}
		if update {
			s = s[:i+len(start)] + want + s[j:]
			continue
		}
		t.Errorf("docs/configuration.md's %s key table differs from internal/config/keys.go; run `UPDATE_README=1 go test ./internal/config` or replace it with:\n%s", table.marker, want)
	}
	if update {
		if err := os.WriteFile(page, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
