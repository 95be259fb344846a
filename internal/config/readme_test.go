package config

import (
	"os"
	"strings"
	"testing"
)

// KeyTable renders Keys as the README's Markdown table.
func keyTable() string {
	var b strings.Builder
	b.WriteString("| key | default | meaning |\n|---|---|---|\n")
	for _, k := range Keys {
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

// The README's key table must list exactly the keys the code reads.
func TestREADMEKeyTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- keys:start -->\n", "<!-- keys:end -->"
	s := string(readme)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", start, end)
	}
	got, want := s[i+len(start):j], keyTable()
	if got != want && os.Getenv("UPDATE_README") != "" {
		if err := os.WriteFile("../../README.md", []byte(s[:i+len(start)]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != want {
		t.Errorf("README.md key table differs from internal/config/keys.go; run `UPDATE_README=1 go test ./internal/config` or replace it with:\n%s", want)
	}
}
