package readme

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Every name kubeship counts records under — a note an encoder or the sink
// takes (lines_truncated, records_malformed, ...) and a reason the deliverer
// drops records for (records_dropped_blocked, ...) — is explained in
// docs/troubleshooting.md, and that page names no other. The names are read
// from the Go sources, so a new note without a row there fails here.
func TestTroubleshootingNamesEveryCounter(t *testing.T) {
	root := repoRoot(t)
	notes, reasons := counterNames(t, root)

	// A floor: the names known when this test was written. Should the
	// sources change shape so that counterNames no longer finds one, this
	// says so instead of passing with fewer names.
	for _, n := range []string{"records_skipped_not_a_map", "records_malformed", "lines_truncated", "labels_dropped",
		"label_values_truncated", "structured_metadata_dropped", "tenants_sanitized", "lines_joined",
		"logs_truncated", "attributes_dropped"} {
		if !notes[n] {
			t.Errorf("note %s is no longer found in internal/: if it was removed, take it out of this list and of docs/troubleshooting.md; "+
				"if the sources changed shape, teach counterNames to find it", n)
		}
	}
	for _, r := range []string{"blocked", "unsendable", "too_large", "status_400", "status_<code>"} {
		if !reasons[r] {
			t.Errorf("drop reason %s is no longer found in internal/: if it was removed, take it out of this list and of docs/troubleshooting.md; "+
				"if the sources changed shape, teach counterNames to find it", r)
		}
	}

	section := docFile(t, "docs/troubleshooting.md")
	named := func(name string) bool { return strings.Contains(section, "`"+name+"`") }
	for _, n := range sorted(notes) {
		if !named(n) {
			t.Errorf("docs/troubleshooting.md does not explain `%s` (counted in internal/): add a row saying what happened and how to fix it", n)
		}
	}
	for _, r := range sorted(reasons) {
		if !named("records_dropped_" + r) {
			t.Errorf("docs/troubleshooting.md does not explain `records_dropped_%s` (a drop reason of internal/delivery): add a row saying what happened and how to fix it", r)
		}
	}

	// The other way: every name in the first column of a table there that
	// looks like a counter is one the sources count.
	row := regexp.MustCompile("(?m)^\\| `([a-z][a-z0-9_<>]*)` \\|")
	status := regexp.MustCompile(`^records_dropped_status_\d+$`)
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		name := m[1]
		reason, drop := strings.CutPrefix(name, "records_dropped_")
		switch {
		case notes[name], drop && reasons[reason]:
		case status.MatchString(name) && reasons["status_<code>"]:
		default:
			t.Errorf("docs/troubleshooting.md explains `%s`, which nothing in internal/ counts any more: remove or rename the row", name)
		}
	}
}

// readmeSection returns the README's section under heading.
func readmeSection(t *testing.T, heading string) string { return section(t, "README.md", heading) }

// docFile returns a Markdown file of the repository, by its path from the root.
func docFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the part of a Markdown file of the repository under the
// first heading that begins with heading, up to the next heading of its
// level.
func section(t *testing.T, file, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), file))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading)
	if i < 0 {
		t.Fatalf("%s has no %q section", file, heading)
	}
	s = s[i+1:]
	level := heading[:strings.IndexByte(heading, ' ')+1] // "## "
	if j := strings.Index(s[len(heading):], "\n"+level); j >= 0 {
		s = s[:len(heading)+j]
	}
	return s
}

var (
	snakeName  = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)+$`)
	reasonName = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
)

// counterNames reads the counted names from the non-test Go sources of
// internal/ and plugin/ (internal/config, whose key table looks like notes,
// and the *test helper packages aside):
//
//   - notes: the Name of a composite literal of a type named like Note
//     (destination.Note{Name: "lines_truncated", ...}); a snake_case string
//     in a composite literal beside a message (a string with a space), as
//     {"lines_truncated", n, "lines longer than ..."}; any string starting
//     records_ (but records_sent and metric names ending _total).
//   - drop reasons: a string argument of a function named drop...
//     (d.dropOnce(out, "blocked", ...)), fmt.Sprintf("status_%d") there as
//     status_<code>, and a string index of something named Dropped
//     (out.Dropped["status_400"]).
func counterNames(t *testing.T, root string) (notes, reasons map[string]bool) {
	t.Helper()
	notes, reasons = map[string]bool{}, map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range []string{"internal", "plugin"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if d.IsDir() {
				if d.Name() == "testdata" || rel == filepath.Join("internal", "config") || strings.HasSuffix(d.Name(), "test") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					compositeNotes(n, notes)
				case *ast.CallExpr:
					if strings.HasPrefix(strings.ToLower(funcName(n.Fun)), "drop") {
						for _, a := range n.Args {
							if s, ok := stringLit(a); ok && reasonName.MatchString(s) {
								reasons[s] = true
							}
							if s, ok := sprintfFormat(a); ok && s == "status_%d" {
								reasons["status_<code>"] = true
							}
						}
					}
				case *ast.IndexExpr:
					if strings.EqualFold(funcName(n.X), "dropped") {
						if s, ok := stringLit(n.Index); ok && reasonName.MatchString(s) {
							reasons[s] = true
						}
					}
				case *ast.BasicLit:
					if s, ok := stringLit(n); ok && snakeName.MatchString(s) && strings.HasPrefix(s, "records_") &&
						s != "records_sent" && !strings.HasSuffix(s, "_total") {
						notes[s] = true
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return notes, reasons
}

// compositeNotes adds the note names a composite literal holds.
func compositeNotes(cl *ast.CompositeLit, notes map[string]bool) {
	isNote := strings.Contains(funcName(cl.Type), "Note")
	var names []string
	message := false
	for i, e := range cl.Elts {
		key := ""
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			key, e = funcName(kv.Key), kv.Value
		}
		s, ok := stringLit(e)
		switch {
		case ok && isNote && (key == "Name" || key == "" && i == 0):
			notes[s] = true
		case isNote: // Drop is the metrics' reason for a Name
		case ok && snakeName.MatchString(s):
			names = append(names, s)
		case isMessage(e):
			message = true
		}
	}
	if message {
		for _, s := range names {
			notes[s] = true
		}
	}
}

// funcName is the last name of an identifier or selector: "dropOnce" for
// d.dropOnce, "Note" for destination.Note.
func funcName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	}
	return ""
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// sprintfFormat returns the format of a fmt.Sprintf call.
func sprintfFormat(e ast.Expr) (string, bool) {
	call, ok := e.(*ast.CallExpr)
	if !ok || funcName(call.Fun) != "Sprintf" || len(call.Args) == 0 {
		return "", false
	}
	return stringLit(call.Args[0])
}

// isMessage reports an expression that reads as a log message: a string
// with a space, a Sprintf of one, or a concatenation holding one.
func isMessage(e ast.Expr) bool {
	if s, ok := stringLit(e); ok {
		return strings.Contains(s, " ")
	}
	if s, ok := sprintfFormat(e); ok {
		return strings.Contains(s, " ")
	}
	if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
		return isMessage(b.X) || isMessage(b.Y)
	}
	return false
}

func sorted(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Every metric internal/metrics defines is named in docs/operations.md's
// Metrics section, as kubeship_<name> (metrics_listen) and
// fluentbit_kubeship_<name> (Fluent Bit's endpoint).
func TestObservabilityNamesEveryMetric(t *testing.T) {
	var names []string
	for _, f := range parseGo(t, filepath.Join(repoRoot(t), "internal", "metrics"), parser.SkipObjectResolution) {
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && len(call.Args) > 0 {
				switch funcName(call.Fun) {
				case "counter", "histogram", "gauge":
					if s, ok := stringLit(call.Args[0]); ok {
						names = append(names, s)
					}
				}
			}
			return true
		})
	}
	if len(names) < 8 {
		t.Fatalf("found %d metrics in internal/metrics (%v): has the way they are defined changed? teach this test", len(names), names)
	}
	section := section(t, "docs/operations.md", "## Metrics")
	for _, n := range names {
		for _, prefix := range []string{"kubeship_", "fluentbit_kubeship_"} {
			if !strings.Contains(section, "`"+prefix+n) {
				t.Errorf("docs/operations.md's Metrics section does not name the metric %s%s", prefix, n)
			}
		}
	}
}
