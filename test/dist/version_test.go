package dist

import (
	"bytes"
	"debug/buildinfo"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/host"
)

// The archive's object, loaded as Fluent Bit 5.1 loads it, names its
// version in the start-up line and in kubeship_build_info, with the Go
// release it was built with, the plugin ABI it found and its architecture.
// The arm64 object runs under qemu-user when the arm64 host is built (make
// test-arm64 builds it).
func TestArchiveReportsItsVersion(t *testing.T) {
	a := load(t)
	for _, ar := range a.archives {
		t.Run(ar.arch, func(t *testing.T) {
			if ar.arch != runtime.GOARCH {
				if _, err := os.Stat(filepath.Join(a.root, "build", ar.arch, "kubeship-host")); err != nil {
					t.Skipf("SKIPPED: no build/%s/kubeship-host to run the %s object with (make build GOARCH=%s)", ar.arch, ar.arch, ar.arch)
				}
				if _, err := exec.LookPath("qemu-aarch64"); err != nil {
					t.Skip("SKIPPED: no qemu-aarch64 to run the arm64 object with")
				}
				t.Setenv(host.ArchEnv, ar.arch)
			}
			so := filepath.Join(t.TempDir(), "out_kubeship.so")
			if err := os.WriteFile(so, ar.files["out_kubeship.so"], 0o755); err != nil {
				t.Fatal(err)
			}
			info, err := buildinfo.Read(bytes.NewReader(ar.files["out_kubeship.so"]))
			if err != nil {
				t.Fatal(err)
			}
			addr := freeAddr(t)
			h, err := host.StartOpts(t, host.Options{SO: so},
				host.Instance{"url": "http://127.0.0.1:9/loki/api/v1/push", "metrics_listen": addr})
			if err != nil {
				t.Fatal(err)
			}
			line := regexp.MustCompile(`\[output:kubeship:kubeship\.0\] destination loki: pushing to \S+ \(kubeship ` +
				regexp.QuoteMeta(a.version) + `, .*, linux/` + ar.arch + `\)\n`)
			if !line.MatchString(h.Logs()) {
				t.Errorf("the start-up line does not name kubeship %s and linux/%s:\n%s", a.version, ar.arch, h.Logs())
			}
			want := `kubeship_build_info{arch="` + ar.arch + `",fluentbit_abi="2.0+",goversion="` + info.GoVersion +
				`",version="` + a.version + `"} 1`
			if body := scrape(t, addr); !strings.Contains(body, want) {
				t.Errorf("metrics lack %s:\n%s", want, body)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	versionHeading = regexp.MustCompile(`^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d\d-\d\d|Unreleased)$`)
	linkRef        = regexp.MustCompile(`(?m)^\[([^\]]+)\]: (https://\S+)$`)
	kinds          = []string{"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
)

// CHANGELOG.md keeps Keep a Changelog's form (an Unreleased section, then
// one entry per version, newest first, with the standard kinds of change
// and a link for each), and the version being built has its entry: dated
// once the tree is that version's tag, which the release workflow builds.
func TestChangelogHasTheVersion(t *testing.T) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	version := versionFile(t, root)
	b, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.HasPrefix(text, "# Changelog\n") {
		t.Error("CHANGELOG.md does not start with \"# Changelog\"")
	}
	links := map[string]bool{}
	for _, m := range linkRef.FindAllStringSubmatch(text, -1) {
		links[m[1]] = true
	}

	var versions [][]int
	dates := map[string]string{}
	body := map[string]int{} // lines of each entry
	current := ""
	for i, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			if line == "## [Unreleased]" {
				if len(versions) > 0 || current != "" {
					t.Errorf("CHANGELOG.md:%d: [Unreleased] comes first", i+1)
				}
				current = "Unreleased"
				break
			}
			m := versionHeading.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("CHANGELOG.md:%d: %q: want \"## [X.Y.Z] - YYYY-MM-DD\" (or \"- Unreleased\" until released)", i+1, line)
				continue
			}
			if current == "" {
				t.Errorf("CHANGELOG.md:%d: no [Unreleased] section above the versions", i+1)
			}
			v := glibcVersion(m[1]) // X.Y.Z, compared as numbers
			if len(versions) > 0 && slices.Compare(v, versions[len(versions)-1]) >= 0 {
				t.Errorf("CHANGELOG.md:%d: %s is not older than the entry above it", i+1, m[1])
			}
			versions = append(versions, v)
			current, dates[m[1]] = m[1], m[2]
		case strings.HasPrefix(line, "### "):
			if !slices.Contains(kinds, strings.TrimPrefix(line, "### ")) {
				t.Errorf("CHANGELOG.md:%d: %q: the kinds of change are %v", i+1, line, kinds)
			}
		case current != "" && strings.TrimSpace(line) != "" && !linkRef.MatchString(line):
			body[current]++
		}
	}
	for v := range dates {
		if !links[v] {
			t.Errorf("CHANGELOG.md: no link [%s]: https://... at the bottom", v)
		}
	}
	if !links["Unreleased"] {
		t.Error("CHANGELOG.md: no link [Unreleased]: https://... at the bottom")
	}

	date, ok := dates[version]
	switch {
	case !ok:
		t.Fatalf("CHANGELOG.md has no entry for %s, the version VERSION names: add \"## [%s] - Unreleased\" with what changed", version, version)
	case body[version] == 0:
		t.Errorf("CHANGELOG.md's entry for %s is empty", version)
	}
	tag := git(t, root, "tag", "--points-at", "HEAD")
	if slices.Contains(strings.Fields(tag), "v"+version) && date == "Unreleased" {
		t.Errorf("HEAD is tagged v%s, but its CHANGELOG.md entry is still dated Unreleased: date it before releasing", version)
	}
	if date != "Unreleased" {
		if _, err := time.Parse("2006-01-02", date); err != nil {
			t.Errorf("CHANGELOG.md's entry for %s is dated %q: %v", version, date, err)
		}
	}
}
