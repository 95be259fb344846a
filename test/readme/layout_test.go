package readme

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/kubeship/kubeship/"

// layout returns the directories CONTRIBUTING.md's "## Layout" block lists,
// in order, without a trailing slash.
func layout(t *testing.T) []string {
	t.Helper()
	s := section(t, "CONTRIBUTING.md", "## Layout")
	start := strings.Index(s, "\n```\n")
	if start < 0 {
		t.Fatal("CONTRIBUTING.md's Layout has no code block listing the directories")
	}
	s = s[start+5:]
	s = s[:strings.Index(s, "\n```")]
	var dirs []string
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(line, " ") {
			dirs = append(dirs, strings.TrimSuffix(f[0], "/"))
		}
	}
	return dirs
}

// goPackages returns the directories under plugin/, internal/ and test/
// that hold Go files (testdata aside), relative to root.
func goPackages(t *testing.T, root string) map[string]bool {
	t.Helper()
	pkgs := map[string]bool{}
	for _, top := range []string{"plugin", "internal", "test"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") {
				rel, _ := filepath.Rel(root, filepath.Dir(path))
				pkgs[filepath.ToSlash(rel)] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return pkgs
}

// CONTRIBUTING.md's layout names every package, each once, and nothing that
// is gone; a package of plugin/ and internal/ imports only those listed
// below it, so the list reads top-down as the data flows.
func TestContributingLayoutListsEveryPackage(t *testing.T) {
	root := repoRoot(t)
	dirs := layout(t)
	pkgs := goPackages(t, root)
	pos := map[string]int{}
	for i, d := range dirs {
		if _, dup := pos[d]; dup {
			t.Errorf("CONTRIBUTING.md's layout lists %s twice", d)
		}
		pos[d] = i
		if _, err := os.Stat(filepath.Join(root, d)); err != nil {
			t.Errorf("CONTRIBUTING.md's layout lists %s, which does not exist", d)
		}
	}
	for _, p := range sorted(pkgs) {
		if _, ok := pos[p]; !ok {
			t.Errorf("CONTRIBUTING.md's layout does not list %s: add a line saying what it is for", p)
		}
	}

	for _, d := range dirs {
		if d != "plugin" && !strings.HasPrefix(d, "internal/") {
			continue
		}
		for file, f := range parseGo(t, filepath.Join(root, d), parser.ImportsOnly) {
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				dep, ok := strings.CutPrefix(path, module)
				if !ok {
					continue
				}
				if at, listed := pos[dep]; listed && at <= pos[d] {
					rel, _ := filepath.Rel(root, file)
					t.Errorf("%s imports %s, listed above it in CONTRIBUTING.md's layout: move %s below %s there (or the import is a cycle in the making)",
						rel, dep, dep, d)
				}
			}
		}
	}
}

var packageRef = regexp.MustCompile("`((?:internal/[a-z0-9_./]+)|plugin/)`")

// docPagesWithCode are the pages of docs/ that describe what the code does:
// CONTRIBUTING.md names the packages behind each.
var docPagesWithCode = []string{"docs/mapping.md", "docs/delivery.md", "docs/troubleshooting.md",
	"docs/configuration.md", "docs/operations.md"}

// CONTRIBUTING.md's "Where the docs' behaviour lives" names, for every page
// of docs/ that describes behaviour, the packages that hold it, and each of
// them is in its layout: a reader goes from any behaviour the docs describe
// to its code in one hop (user docs name no package themselves).
func TestDocsPagesNameTheirPackages(t *testing.T) {
	dirs := map[string]bool{}
	for _, d := range layout(t) {
		dirs[d] = true
	}
	where := section(t, "CONTRIBUTING.md", "## Where the docs' behaviour lives")
	named := map[string]bool{}
	for _, line := range strings.Split(where, "\n") {
		if !strings.HasPrefix(line, "| [docs/") {
			continue
		}
		page := line[strings.Index(line, "(")+1 : strings.Index(line, ")")]
		refs := packageRef.FindAllStringSubmatch(line, -1)
		if len(refs) == 0 {
			t.Errorf("CONTRIBUTING.md's row for %s names no package (`internal/...`)", page)
		}
		named[page] = true
		for _, m := range refs {
			// internal/config/keys.go names a file: its directory is the package.
			p := strings.TrimSuffix(m[1], "/")
			if strings.HasSuffix(p, ".go") {
				p = filepath.ToSlash(filepath.Dir(p))
			}
			if !dirs[p] {
				t.Errorf("CONTRIBUTING.md's row for %s names %s, which its layout does not list", page, m[1])
			}
		}
	}
	for _, page := range docPagesWithCode {
		if !named[page] {
			t.Errorf("CONTRIBUTING.md's \"Where the docs' behaviour lives\" has no row for %s: name the packages behind it", page)
		}
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every relative link of the README, CONTRIBUTING.md and docs/ leads to a
// file or directory of the repository, and an #anchor to a heading there.
func TestLinksResolve(t *testing.T) {
	root := repoRoot(t)
	for _, doc := range docs(t) {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(link, "#")
			target := filepath.Join(root, doc)
			if path != "" {
				target = filepath.Join(root, filepath.Dir(doc), path)
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: link %s: %s does not exist", doc, link, path)
				continue
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(target, ".md") {
				t.Errorf("%s: link %s: an anchor into a file that is not Markdown", doc, link)
				continue
			}
			if !anchors(t, target)[anchor] {
				t.Errorf("%s: link %s: %s has no heading #%s", doc, link, path, anchor)
			}
		}
	}
}

// anchors returns the GitHub anchors of a Markdown file's headings:
// lower case, punctuation dropped, spaces as hyphens, repeats numbered.
func anchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var slug strings.Builder
		for _, c := range strings.ToLower(text) {
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
				slug.WriteRune(c)
			case c == ' ':
				slug.WriteRune('-')
			case c > 127 && (c < 0x2000 || c > 0x2bff): // letters of other scripts stay; arrows and symbols go
				slug.WriteRune(c)
			}
		}
		s := slug.String()
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// parseGo parses the non-test Go files of a directory, by file name.
func parseGo(t *testing.T, dir string, mode parser.Mode) map[string]*ast.File {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	out := map[string]*ast.File{}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		out[file] = f
	}
	return out
}
