package dist

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/test/host"
)

// A block is a fenced code block of a Markdown file, with the
// <!-- marker --> comment just above it.
type block struct {
	lang, marker string
	lines        []string
}

func blocks(t *testing.T, root, rel string) []block {
	t.Helper()
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []block
	var cur *block
	marker := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		case strings.HasPrefix(trimmed, "```"):
			cur = &block{lang: strings.TrimPrefix(trimmed, "```"), marker: marker}
			marker = ""
		case strings.HasPrefix(trimmed, "<!--") && strings.HasSuffix(trimmed, "-->"):
			marker = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(trimmed, "<!--"), "-->"))
		case trimmed != "":
			marker = ""
		}
	}
	return out
}

func marked(t *testing.T, root, rel, marker string) []string {
	t.Helper()
	for _, b := range blocks(t, root, rel) {
		if b.marker == marker {
			return b.lines
		}
	}
	t.Fatalf("%s has no block marked <!-- %s -->", rel, marker)
	return nil
}

const releaseURL = "https://github.com/kubeship/kubeship/releases/download/v$V/"

var firstLine = regexp.MustCompile(`^V=(\S+) ARCH=(\S+)(\s+#.*)?$`)

// The README's download block, run in bash as written, against a server
// holding dist/ where the release page would: it fetches this machine's
// archive and SHA256SUMS, checks the sum and extracts the plugin. Served a
// tampered archive, it stops at the check. Its version is VERSION's.
func TestInstallSnippetRuns(t *testing.T) {
	a := load(t)
	lines := marked(t, a.root, "README.md", "install:download")
	m := firstLine.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("the download block starts %q: want V=<version> ARCH=<arch>", lines[0])
	}
	if want := versionFile(t, a.root); m[1] != want {
		t.Errorf("the download block fetches version %s; VERSION is %s", m[1], want)
	}
	script := strings.Join(lines, "\n")
	if strings.Count(script, releaseURL) != 2 {
		t.Fatalf("the download block should fetch the archive and SHA256SUMS from %s", releaseURL)
	}
	var ar archive
	for _, x := range a.archives {
		if x.arch == runtime.GOARCH {
			ar = x
		}
	}
	if ar.name == "" {
		t.Skipf("SKIPPED: no archive for %s", runtime.GOARCH)
	}

	run := func(t *testing.T, tamper bool) (string, string, error) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name, ok := strings.CutPrefix(r.URL.Path, "/v"+a.version+"/")
			if !ok || strings.Contains(name, "/") {
				http.NotFound(w, r)
				return
			}
			b, err := os.ReadFile(filepath.Join(a.dir, name))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			if tamper && strings.HasSuffix(name, ".tar.gz") {
				b = bytes.Clone(b)
				b[len(b)/2] ^= 1
			}
			_, _ = w.Write(b)
		}))
		defer srv.Close()
		s := strings.Replace(script, lines[0], "V="+a.version+" ARCH="+ar.arch, 1)
		s = strings.ReplaceAll(s, releaseURL, srv.URL+"/v$V/")
		dir := t.TempDir()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", s)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return dir, string(out), err
	}

	t.Run("as_written", func(t *testing.T) {
		dir, out, err := run(t, false)
		if err != nil {
			t.Fatalf("the download block failed: %v\n%s", err, out)
		}
		got, err := os.ReadFile(filepath.Join(dir, ar.name, "out_kubeship.so"))
		if err != nil || !bytes.Equal(got, ar.files["out_kubeship.so"]) {
			t.Errorf("the block did not extract the archive's out_kubeship.so (%v):\n%s", err, out)
		}
		if !strings.Contains(out, ar.name+".tar.gz: OK") {
			t.Errorf("sha256sum did not check the archive:\n%s", out)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		dir, out, err := run(t, true)
		if err == nil || !strings.Contains(out, "FAILED") {
			t.Errorf("served a tampered archive, the block did not stop at the check (%v):\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, ar.name)); err == nil {
			t.Error("the block extracted a tampered archive")
		}
	})
}

// The Dockerfiles the README and docs/install.md show add the archive's
// files where docker/Dockerfile puts them (the paths conf/plugins.conf
// names), on the base images and versions the release's images use, for
// the version VERSION names: as close as a test without Docker gets to
// building them.
func TestInstallDockerfiles(t *testing.T) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	version := versionFile(t, root)
	df, err := os.ReadFile(filepath.Join(root, "docker/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dest := func(re string) string {
		m := regexp.MustCompile(`(?m)^` + re + ` (/\S+)$`).FindSubmatch(df)
		if m == nil {
			t.Fatalf("docker/Dockerfile has no line %s <destination>", re)
		}
		return string(m[1])
	}
	soDest, confDest := dest(`COPY --from=plugin /out_kubeship\.so`), dest(`COPY conf/plugins\.conf`)
	plugins, _ := os.ReadFile(filepath.Join(root, "conf/plugins.conf"))
	if !strings.Contains(string(plugins), "Path "+soDest+"\n") {
		t.Errorf("conf/plugins.conf does not load %s", soDest)
	}
	bases := map[string]string{}
	for _, im := range images(t, root) {
		bases[im.name] = im.base
	}
	for _, c := range []struct{ doc, marker, base string }{
		{"README.md", "install:dockerfile", bases["fluent-bit-kubeship"]},
		{"docs/install.md", "install:dockerfile", bases["fluent-bit-kubeship"]},
		{"docs/install.md", "install:dockerfile-aws", bases["aws-for-fluent-bit-kubeship"]},
	} {
		dir := "kubeship_" + version + "_linux_${TARGETARCH}/"
		want := []string{
			"FROM " + c.base,
			"ARG TARGETARCH",
			"COPY " + dir + "out_kubeship.so " + soDest,
			"COPY " + dir + "plugins.conf " + confDest,
		}
		got := marked(t, root, c.doc, c.marker)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s's <!-- %s --> Dockerfile is\n%s\nwant\n%s", c.doc, c.marker, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	for _, f := range []string{"out_kubeship.so", "plugins.conf"} {
		if !slices.Contains(archiveFiles, f) {
			t.Errorf("the archives hold no %s", f)
		}
	}
}
