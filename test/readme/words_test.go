package readme

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeBudget is the README's size limit: it introduces kubeship and leads
// to the docs/ pages, which hold the depth.
const readmeBudget = 12 << 10

func TestReadmeFitsItsBudget(t *testing.T) {
	if n := len(docFile(t, "README.md")); n > readmeBudget {
		t.Errorf("README.md is %d bytes, over its %d: move the depth to a page of docs/ and link it", n, readmeBudget)
	}
}

// Every page of docs/ is linked from the README, so a reader finds it.
func TestReadmeLinksEveryDocsPage(t *testing.T) {
	readme := docFile(t, "README.md")
	pages, err := filepath.Glob(filepath.Join(repoRoot(t), "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 8 {
		t.Fatalf("found %d pages in docs/: has it moved?", len(pages))
	}
	for _, p := range pages {
		link := "](docs/" + filepath.Base(p)
		if !strings.Contains(readme, link+")") && !strings.Contains(readme, link+"#") {
			t.Errorf("README.md does not link docs/%s", filepath.Base(p))
		}
	}
}

// The README's first screen, before its first section, leads a new reader
// to a working delivery (the Quick start), to installing, configuring and
// operating it, and to the Fargate deployment; those sections hold what
// their names promise.
func TestReadmeFirstScreenLeadsSomewhere(t *testing.T) {
	readme := docFile(t, "README.md")
	first := readme[:strings.Index(readme, "\n## ")]
	for _, anchor := range []string{"#try-it", "#install", "#configure", "#on-eks-fargate", "#operating-it"} {
		if !strings.Contains(first, "]("+anchor+")") {
			t.Errorf("README.md's first screen does not link %s", anchor)
		}
	}
	try := readmeSection(t, "## Try it")
	for _, m := range []string{"<!-- quickstart:loki -->", "<!-- quickstart:datadog -->"} {
		if !strings.Contains(try, m) {
			t.Errorf("README.md's Try it section lacks the Quick start block %s", m)
		}
	}
	if !strings.Contains(readmeSection(t, "## On EKS Fargate"), "](docs/fargate.md") {
		t.Error("README.md's On EKS Fargate section does not link docs/fargate.md")
	}
}

// The README's comparison shows only measured figures, each from
// docs/performance.md's tables, whose shape that page states.
func TestReadmeFiguresAreMeasured(t *testing.T) {
	why := readmeSection(t, "## Why")
	perf := docFile(t, "docs/performance.md")
	var row string
	for _, l := range strings.Split(why, "\n") {
		if strings.HasPrefix(l, "| CPU") {
			row = l
		}
	}
	if row == "" {
		t.Fatal("README.md's Why table has no CPU row")
	}
	figures := regexp.MustCompile(`\d{1,3}(?:,\d{3})+|\d+\.\d+`).FindAllString(row, -1)
	if len(figures) < 4 {
		t.Fatalf("README.md's CPU row shows %d figures: %s", len(figures), row)
	}
	for _, f := range figures {
		if !strings.Contains(perf, "| "+f+" |") {
			t.Errorf("README.md shows %s per record, which no table of docs/performance.md holds", f)
		}
	}
	if n := len(regexp.MustCompile(`(?i)not measured`).FindAllString(row, -1)); n+len(figures) < 5 {
		t.Errorf("README.md's CPU row should give every column a measured figure or say \"not measured\": %s", row)
	}
}

// userDocs are the pages written for users: the README, docs/, and the
// README inside each release archive.
func userDocs(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "docs/archive/README.md"}
	for _, f := range docs(t) {
		if strings.HasPrefix(f, "docs/") {
			files = append(files, f)
		}
	}
	slices.Sort(files)
	return files
}

// What user docs don't say: how kubeship was built (issue numbers, commit
// ids, the machine it was measured on, targets met or missed, the
// benchmark's shorthand for its configurations) and where its code lives.
// That is the history git and CHANGELOG.md keep, and CONTRIBUTING.md's map.
var labWords = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`(?:^|[\s(\[])#\d+(?:[^\w-]|$)`), "an issue number"},
	{regexp.MustCompile(`\b(?:issue|PR|pull request) \d+\b`), "an issue number"},
	{regexp.MustCompile(`\b(?:[0-9a-f]{7,12}|[0-9a-f]{40})\b`), "a commit id"},
	{regexp.MustCompile(`/work/|/tmp/|/root/|/home/`), "a path of the machine it was written on"},
	{regexp.MustCompile(`(?i)\bmissed\b|\btargets? met\b|\blab notes?\b`), "a development target"},
	{regexp.MustCompile(`\bloki-sm\b|\bw\d+\b|\bbw\d+ms\b`), "the benchmark's shorthand (say it in words: \"built-in loki sending kubeship's content\", \"Workers 4\")"},
	{regexp.MustCompile("`?internal/[a-z]"), "a package path (CONTRIBUTING.md maps pages to packages)"},
}

func TestUserDocsUsePlainWords(t *testing.T) {
	digit, hexLetter := regexp.MustCompile(`\d`), regexp.MustCompile(`[a-f]`)
	for _, doc := range userDocs(t) {
		for n, line := range strings.Split(docFile(t, doc), "\n") {
			for _, w := range labWords {
				for _, m := range w.re.FindAllString(line, -1) {
					if w.what == "a commit id" && (!digit.MatchString(m) || !hexLetter.MatchString(m)) {
						continue // a word or a number, not a commit id
					}
					t.Errorf("%s:%d: %q reads as %s: user docs say what kubeship does, not how it was built", doc, n+1, strings.TrimSpace(m), w.what)
				}
			}
		}
	}
}
