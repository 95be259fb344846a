// Package readme holds the README, CONTRIBUTING.md and docs/ to what they
// show: every config snippet is (an excerpt of) a file under conf/, every
// make target exists, every path a command names exists, every link
// resolves, the Quick start, run as written with a real Fluent Bit, delivers
// to Loki and to a Datadog intake, docs/troubleshooting.md explains every
// counted reason the sources name, docs/operations.md names every metric,
// docs/migration.md every peer's key, and CONTRIBUTING.md's layout names
// every package and maps every docs page to its packages. The README stays
// within its size, links every docs page and leads to them from its first
// screen; its figures are docs/performance.md's; user docs carry no
// development history (words_test.go).
package readme

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/ddintake"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
)

// A block is one fenced code block of the README.
type block struct {
	lang   string
	marker string // the <!-- ... --> comment just above it, if any
	lines  []string
	line   int // where it starts
}

func readme(t *testing.T) (string, []block) {
	t.Helper()
	return markdown(t, "README.md")
}

// docs lists the Markdown files whose snippets are held to the repository:
// the README, CONTRIBUTING.md and docs/*.md, relative to the root.
func docs(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md", "CONTRIBUTING.md"}
	for _, m := range more {
		rel, _ := filepath.Rel(root, m)
		files = append(files, rel)
	}
	return files
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// markdown returns the repository root and the fenced code blocks of the
// Markdown file rel (relative to the root).
func markdown(t *testing.T, rel string) (string, []block) {
	t.Helper()
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []block
	var cur *block
	marker := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		case strings.HasPrefix(trimmed, "```"):
			cur = &block{lang: strings.TrimPrefix(trimmed, "```"), marker: marker, line: n}
			marker = ""
		case strings.HasPrefix(trimmed, "<!--") && strings.HasSuffix(trimmed, "-->"):
			marker = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(trimmed, "<!--"), "-->"))
		case trimmed != "":
			marker = ""
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: code block never closed", rel, cur.line)
	}
	return root, blocks
}

// Config snippets are files under conf/ (or excerpts of one, in order),
// named in a <!-- file: PATH --> comment above the block, so the tests that
// run those files test the snippet. The same holds in CONTRIBUTING.md and
// docs/.
func TestConfigSnippetsAreShippedFiles(t *testing.T) {
	for _, doc := range docs(t) {
		root, blocks := markdown(t, doc)
		seen := 0
		for _, b := range blocks {
			if b.lang != "ini" && b.lang != "yaml" {
				continue
			}
			seen++
			path, ok := strings.CutPrefix(b.marker, "file: ")
			if !ok || !strings.HasPrefix(path, "conf/") {
				t.Errorf("%s:%d: a %s snippet needs <!-- file: conf/... --> above it naming the file it shows", doc, b.line, b.lang)
				continue
			}
			content, err := os.ReadFile(filepath.Join(root, path))
			if err != nil {
				t.Errorf("%s:%d: %v", doc, b.line, err)
				continue
			}
			if !excerpt(b.lines, strings.Split(string(content), "\n")) {
				t.Errorf("%s:%d: the snippet is not an excerpt of %s (its lines, whole and in order)", doc, b.line, path)
			}
		}
		if seen == 0 && doc == "README.md" {
			t.Error("no config snippets found in README.md")
		}
	}
}

// excerpt reports whether the non-empty lines of snippet occur in file,
// whole and in order (a snippet may leave lines out).
func excerpt(snippet, file []string) bool {
	i := 0
	for _, want := range snippet {
		if strings.TrimSpace(want) == "" {
			continue
		}
		for i < len(file) && file[i] != want {
			i++
		}
		if i == len(file) {
			return false
		}
		i++
	}
	return true
}

var makeTarget = regexp.MustCompile(`(?m)^([a-z0-9-]+):`)
var repoPath = regexp.MustCompile(`(?:^|[\s=])((?:conf|docker|test|docs)/[\w./-]+)`)

// Every make target a shell snippet runs exists, and every file it names,
// in the README, CONTRIBUTING.md and docs/.
func TestCommandsNameRealTargetsAndFiles(t *testing.T) {
	root := repoRoot(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range makeTarget.FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	for _, doc := range docs(t) {
		_, blocks := markdown(t, doc)
		for _, b := range blocks {
			if b.lang != "sh" {
				continue
			}
			for _, line := range b.lines {
				cmd, _, _ := strings.Cut(line, "#")
				f := shellWords(cmd)
				if len(f) > 0 && f[0] == "make" {
					for _, arg := range f[1:] {
						if !strings.Contains(arg, "=") && !targets[arg] {
							t.Errorf("%s:%d: make %s: no such target", doc, b.line, arg)
						}
					}
				}
				for _, m := range repoPath.FindAllStringSubmatch(cmd, -1) {
					if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
						t.Errorf("%s:%d: %s does not exist", doc, b.line, m[1])
					}
				}
			}
		}
	}
}

// shellWords splits a command line into words as a shell does for plain
// and quoted words: `make bench PERF_FLAGS="-n 5 -repeat 1"` is three.
func shellWords(cmd string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, c := range cmd {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// quickstart returns the README block marked <!-- quickstart:NAME -->.
func quickstart(t *testing.T, name string) []string {
	_, blocks := readme(t)
	for _, b := range blocks {
		if b.marker == "quickstart:"+name {
			return b.lines
		}
	}
	t.Fatalf("README.md has no block marked <!-- quickstart:%s -->", name)
	return nil
}

// pathWithFluentBit puts the Fluent Bit under test first on PATH as
// `fluent-bit`, as a user's would be.
func pathWithFluentBit(t *testing.T, bin string) string {
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "fluent-bit")); err != nil {
		t.Fatal(err)
	}
	return dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// The Loki Quick start, pasted into bash in the repository as written:
// it builds what it needs, starts Loki and Fluent Bit, and its curl shows
// the record that arrived.
func TestQuickStartLoki(t *testing.T) {
	bin := fluentbit.Need(t)
	root, _ := host.RepoRoot()
	lines := quickstart(t, "loki")
	// A fresh Loki: an earlier run's records must not pass this one.
	if err := os.RemoveAll("/tmp/kubeship-quickstart"); err != nil {
		t.Fatal(err)
	}
	script := "set -e\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + strings.Join(lines, "\n") + "\n"
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+pathWithFluentBit(t, bin))
	out, err := runFor(cmd, 5*time.Minute)
	if err != nil {
		t.Fatalf("the Quick start failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"job":"quickstart"`) || !strings.Contains(out, "hello from kubeship") {
		t.Errorf("the Quick start's query did not show the record in Loki:\n%s", out)
	}
}

// The Datadog Quick start's command, with the API key it asks for, against
// the intake: Datadog itself is not reachable from here, so the test adds
// one key to the shown file, url, pointing kubeship at the intake.
func TestQuickStartDatadog(t *testing.T) {
	bin := fluentbit.Need(t)
	root, _ := host.RepoRoot()
	lines := quickstart(t, "datadog")
	const want = "DD_API_KEY=<your API key> fluent-bit -e build/out_kubeship.so -c conf/quickstart/datadog.conf"
	if len(lines) != 1 || strings.TrimSpace(lines[0]) != want {
		t.Fatalf("the Datadog Quick start is %q; this test runs %q", lines, want)
	}
	const key = "0123456789abcdef0123456789abcdef"
	intake, err := ddintake.Start(ddintake.Options{APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer intake.Close()
	conf, err := os.ReadFile(filepath.Join(root, "conf/quickstart/datadog.conf"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "datadog.conf")
	if err := os.WriteFile(tmp, []byte(string(conf)+"    url          "+intake.URL()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-e", filepath.Join(root, "build/out_kubeship.so"), "-c", tmp)
	cmd.Env = append(os.Environ(), "DD_API_KEY="+key)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	entries, err := intake.WaitEntries(1, 30*time.Second)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err != nil {
		t.Fatalf("%v\nFluent Bit:\n%s", err, log.String())
	}
	if e := entries[0]; e.Message != "hello from kubeship" || e.Service != "quickstart" || e.DDSource != "kubeship" {
		t.Errorf("arrived %+v", e)
	}
	if strings.Contains(log.String(), key) {
		t.Error("Fluent Bit's log shows the API key")
	}
}

// runFor runs cmd, killing its process group after limit.
func runFor(cmd *exec.Cmd, limit time.Duration) (string, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(limit, func() { killGroup(cmd) })
	err := cmd.Wait()
	timer.Stop()
	killGroup(cmd) // whatever the script left running
	return out.String(), err
}

// docs/migration.md names every key of the peers users come from: the
// built-in loki and datadog outputs (their `fluent-bit -o NAME -h` options,
// Fluent Bit's tls.* keys as one group) and grafana-loki (its config.go, in
// the Loki module that test/loki pins).
func TestMigrationCoversEveryPeerKey(t *testing.T) {
	root, _ := host.RepoRoot()
	migration := docFile(t, "docs/migration.md")
	named := func(key string) bool {
		return strings.Contains(migration, "`"+key+"`") || strings.Contains(migration, "`"+key+" ")
	}

	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/grafana/loki/v3")
	cmd.Dir = filepath.Join(root, "test", "loki")
	dir, err := cmd.Output()
	if err != nil {
		t.Fatalf("the Loki module (make loki downloads it): %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "clients", "cmd", "fluent-bit", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`\.Get\("(\w+)"\)`).FindAllStringSubmatch(string(src), -1)
	if len(keys) < 20 {
		t.Fatalf("found %d grafana-loki keys in config.go; has its shape changed?", len(keys))
	}
	for _, m := range keys {
		if !named(m[1]) {
			t.Errorf("grafana-loki key %s is not in docs/migration.md", m[1])
		}
	}

	bin := fluentbit.Need(t)
	for _, output := range []string{"loki", "datadog"} {
		out, _ := exec.Command(bin, "-o", output, "-h").CombinedOutput()
		opts := optionsOf(string(out))
		if len(opts) < 10 {
			t.Fatalf("fluent-bit -o %s -h listed %d options:\n%s", output, len(opts), out)
		}
		for _, k := range opts {
			if strings.HasPrefix(k, "tls.") && named("tls.*") || named(k) {
				continue
			}
			t.Errorf("%s output key %s is not in docs/migration.md", output, k)
		}
	}
}

// optionsOf returns the keys of the OPTIONS part of `fluent-bit -o NAME -h`:
// a heading line, then "key   description" lines, until the next heading.
func optionsOf(help string) []string {
	var keys []string
	in := false
	for _, line := range strings.Split(regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(help, ""), "\n") {
		if regexp.MustCompile(`^[A-Z_]+$`).MatchString(line) {
			in = line == "OPTIONS"
			continue
		}
		if f := strings.Fields(line); in && len(f) > 0 && line[0] != ' ' {
			keys = append(keys, f[0])
		}
	}
	return keys
}
