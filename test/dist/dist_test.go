// Package dist holds `make dist`'s release artifacts to what the release
// promises: each archive's contents, ownership and times, SHA256SUMS, the
// SBOMs against the modules each object links, the objects' portability
// (glibc 2.34 at most, only Fluent Bit's proxy functions exported) and the
// version they report; that two builds of one commit in two directories are
// byte-identical (make test-dist); and the release's paperwork: CHANGELOG.md
// has the version's entry, every image name follows the scheme, and the
// README's install snippets work against the archives.
//
// The artifacts are those in <root>/dist: run `make dist` first (make test
// and make test-dist do).
package dist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kubeship/kubeship/test/host"
)

// arches are the architectures a release ships, as in the Makefile's DIST_ARCHES.
var arches = []string{"amd64", "arm64"}

// archiveFiles are an archive's files, in its directory, in the order
// tar --sort=name stores them.
var archiveFiles = []string{"LICENSE", "README.md", "out_kubeship.so", "plugins.conf"}

// An archive is one dist/kubeship_<version>_linux_<arch>.tar.gz, read.
type archive struct {
	arch, name, path string
	gz               gzip.Header
	headers          []*tar.Header
	files            map[string][]byte // by name inside its directory
}

// artifacts is dist/ as make dist left it.
type artifacts struct {
	root, dir, version string
	archives           []archive
}

var (
	loadOnce sync.Once
	loaded   *artifacts
	loadErr  error
)

// load reads dist/ once per test binary; it fails the test when make dist
// has not run, or left something other than one version's artifacts.
func load(t *testing.T) *artifacts {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = read() })
	if loadErr != nil {
		t.Fatalf("%v (run `make dist`)", loadErr)
	}
	return loaded
}

var archiveName = regexp.MustCompile(`^kubeship_(.+)_linux_([a-z0-9]+)\.tar\.gz$`)

func read() (*artifacts, error) {
	root, err := host.RepoRoot()
	if err != nil {
		return nil, err
	}
	a := &artifacts{root: root, dir: filepath.Join(root, "dist")}
	paths, _ := filepath.Glob(filepath.Join(a.dir, "*.tar.gz"))
	for _, p := range paths {
		m := archiveName.FindStringSubmatch(filepath.Base(p))
		if m == nil {
			return nil, fmt.Errorf("dist/%s: not named kubeship_<version>_linux_<arch>.tar.gz", filepath.Base(p))
		}
		if a.version == "" {
			a.version = m[1]
		} else if m[1] != a.version {
			return nil, fmt.Errorf("dist/ holds versions %s and %s: make dist leaves one", a.version, m[1])
		}
		ar, err := readArchive(p)
		if err != nil {
			return nil, err
		}
		ar.arch = m[2]
		a.archives = append(a.archives, ar)
	}
	var got []string
	for _, ar := range a.archives {
		got = append(got, ar.arch)
	}
	if !slices.Equal(got, arches) {
		return nil, fmt.Errorf("dist/ has archives for %v, want %v", got, arches)
	}
	return a, nil
}

func readArchive(path string) (archive, error) {
	ar := archive{path: path, name: strings.TrimSuffix(filepath.Base(path), ".tar.gz"), files: map[string][]byte{}}
	f, err := os.Open(path)
	if err != nil {
		return ar, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return ar, fmt.Errorf("%s: %v", path, err)
	}
	ar.gz = zr.Header
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ar, fmt.Errorf("%s: %v", path, err)
		}
		ar.headers = append(ar.headers, h)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				return ar, fmt.Errorf("%s: %v", path, err)
			}
			ar.files[strings.TrimPrefix(h.Name, ar.name+"/")] = b
		}
	}
	return ar, nil
}

// versionFile is the file VERSION: the release this tree is or becomes.
func versionFile(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("VERSION is %q: want MAJOR.MINOR.PATCH", v)
	}
	return v
}

// A build's version: VERSION from its tag, else VERSION-dev.g<commit>, with
// .dirty when built with uncommitted changes.
var builtVersion = regexp.MustCompile(`^(\d+\.\d+\.\d+)(?:-dev(?:\.g([0-9a-f]{7,40})(\.dirty)?)?)?$`)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// The archives are named for the version the tree builds, hold exactly the
// plugin, plugins.conf, LICENSE and README.md in a directory of the same
// name, and store nothing of the machine that built them: owner root (0:0,
// no names), fixed modes, every time the commit's, a gzip header with no
// name or time.
func TestArchives(t *testing.T) {
	a := load(t)
	m := builtVersion.FindStringSubmatch(a.version)
	if m == nil {
		t.Fatalf("archives are named for version %q: want <VERSION>, or <VERSION>-dev.g<commit>[.dirty] when not built from its tag", a.version)
	}
	if want := versionFile(t, a.root); m[1] != want {
		t.Fatalf("archives are named for %s, but VERSION says %s: dist/ is stale (run `make dist`)", a.version, want)
	}
	// The archives' times are the commit's: the tag's for a release.
	commit := m[2]
	if a.version == m[1] {
		commit = "v" + m[1]
	}
	when := ""
	if commit != "" {
		when = git(t, a.root, "log", "-1", "--format=%ct", commit)
	}

	plugins, _ := os.ReadFile(filepath.Join(a.root, "conf", "plugins.conf"))
	license, _ := os.ReadFile(filepath.Join(a.root, "LICENSE"))
	tmpl, _ := os.ReadFile(filepath.Join(a.root, "docs", "archive", "README.md"))
	for _, ar := range a.archives {
		t.Run(ar.arch, func(t *testing.T) {
			if ar.gz.Name != "" || !ar.gz.ModTime.IsZero() {
				t.Errorf("gzip header holds name %q, time %v: want neither (gzip -n)", ar.gz.Name, ar.gz.ModTime)
			}
			want := []string{ar.name + "/"}
			for _, f := range archiveFiles {
				want = append(want, ar.name+"/"+f)
			}
			var names []string
			for _, h := range ar.headers {
				names = append(names, h.Name)
				mode := int64(0o644)
				if h.Typeflag == tar.TypeDir || strings.HasSuffix(h.Name, ".so") {
					mode = 0o755
				}
				if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
					t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 with no names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
				}
				if h.Mode != mode {
					t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, mode)
				}
				if got := fmt.Sprint(h.ModTime.Unix()); when != "" && got != when {
					t.Errorf("%s: time %s, want the commit's %s", h.Name, got, when)
				}
				if len(h.PAXRecords) > 0 {
					t.Errorf("%s: PAX records %v (they hold times and process ids)", h.Name, h.PAXRecords)
				}
			}
			if !slices.Equal(names, want) {
				t.Errorf("entries %q, want %q", names, want)
			}
			if !bytes.Equal(ar.files["plugins.conf"], plugins) {
				t.Error("plugins.conf is not conf/plugins.conf")
			}
			if !bytes.Equal(ar.files["LICENSE"], license) {
				t.Error("LICENSE is not the repository's")
			}
			readme := strings.NewReplacer("@VERSION@", a.version, "@ARCH@", ar.arch).Replace(string(tmpl))
			if string(ar.files["README.md"]) != readme || strings.Contains(readme, "@") {
				t.Errorf("README.md is not docs/archive/README.md for %s %s:\n%s", a.version, ar.arch, ar.files["README.md"])
			}
			if !bytes.Contains(ar.files["out_kubeship.so"], []byte(a.version)) {
				t.Errorf("out_kubeship.so does not hold its version %s", a.version)
			}
		})
	}
}

// SHA256SUMS names every other file of dist/, and sha256sum -c agrees with it.
func TestChecksums(t *testing.T) {
	a := load(t)
	sums, err := os.ReadFile(filepath.Join(a.dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = a.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q: want <sha256>  <name>", line)
		}
		listed[name] = sum
	}
	entries, _ := os.ReadDir(a.dir)
	for _, e := range entries {
		if e.Name() == "SHA256SUMS" {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(a.dir, e.Name()))
		sum := sha256.Sum256(b)
		if listed[e.Name()] != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256SUMS does not list %s with its sum", e.Name())
		}
		delete(listed, e.Name())
	}
	for name := range listed {
		t.Errorf("SHA256SUMS lists %s, which dist/ does not hold", name)
	}
}

// A CycloneDX SBOM, as much of it as the test reads.
type sbom struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Metadata     struct {
		Timestamp string    `json:"timestamp"`
		Component component `json:"component"`
	} `json:"metadata"`
	Components []component `json:"components"`
}

type component struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Purl       string `json:"purl"`
	Properties []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"properties"`
}

// Each archive's SBOM (CycloneDX, from cyclonedx-gomod) lists exactly the
// Go modules its object links, at the versions it links, and the Go
// release; it holds no time or serial number, so it is reproducible too.
func TestSBOMs(t *testing.T) {
	a := load(t)
	for _, ar := range a.archives {
		t.Run(ar.arch, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(a.dir, ar.name+".cdx.json"))
			if err != nil {
				t.Fatal(err)
			}
			var bom sbom
			if err := json.Unmarshal(b, &bom); err != nil {
				t.Fatal(err)
			}
			if bom.BOMFormat != "CycloneDX" || bom.SpecVersion == "" {
				t.Errorf("bomFormat %q, specVersion %q: not a CycloneDX document", bom.BOMFormat, bom.SpecVersion)
			}
			if bom.SerialNumber != "" || bom.Metadata.Timestamp != "" {
				t.Errorf("serial number %q, timestamp %q: two builds would differ", bom.SerialNumber, bom.Metadata.Timestamp)
			}
			main := bom.Metadata.Component
			if main.Name != "github.com/kubeship/kubeship" {
				t.Errorf("the SBOM describes %q", main.Name)
			}
			for _, p := range main.Properties {
				if p.Name == "cdx:gomod:build:env:GOARCH" && p.Value != ar.arch {
					t.Errorf("the SBOM is for GOARCH %s", p.Value)
				}
			}

			info, err := buildinfo.Read(bytes.NewReader(ar.files["out_kubeship.so"]))
			if err != nil {
				t.Fatalf("out_kubeship.so's build info: %v", err)
			}
			linked := map[string]string{"std": info.GoVersion}
			for _, d := range info.Deps {
				if d.Replace != nil {
					d = d.Replace
				}
				linked[d.Path] = d.Version
			}
			listed := map[string]string{}
			for _, c := range bom.Components {
				listed[c.Name] = c.Version
			}
			for path, v := range linked {
				if listed[path] != v {
					t.Errorf("out_kubeship.so links %s %s; the SBOM lists %q", path, v, listed[path])
				}
			}
			for path, v := range listed {
				if _, ok := linked[path]; !ok {
					t.Errorf("the SBOM lists %s %s, which out_kubeship.so does not link", path, v)
				}
			}
			if len(linked) < 10 {
				t.Errorf("out_kubeship.so's build info names only %d modules: %v", len(linked), linked)
			}
		})
	}
}
