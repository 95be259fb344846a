package dist

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/host"
)

// ReproduceEnv runs TestDistIsReproducible: make test-dist sets it.
const ReproduceEnv = "KUBESHIP_DIST_REPRODUCE"

// Two runs of make dist on one commit, each in a fresh clone in a
// directory of its own (different paths, different lengths), give
// byte-identical archives, SBOMs and SHA256SUMS, named for that commit's
// version; and the same as the working tree's dist/ when that was built
// from the same commit with nothing changed. The clones share the Go build
// and module caches, as two builds on one machine do.
func TestDistIsReproducible(t *testing.T) {
	if os.Getenv(ReproduceEnv) == "" {
		t.Skipf("SKIPPED: builds the release twice in fresh clones (minutes); make test-dist runs it (%s=1)", ReproduceEnv)
	}
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	head := git(t, root, "rev-parse", "HEAD")
	version := versionFile(t, root)
	want := version + "-dev.g" + git(t, root, "rev-parse", "--short=12", "HEAD")
	if slices.Contains(strings.Fields(git(t, root, "tag", "--points-at", "HEAD")), "v"+version) {
		want = version
	}

	tmp := t.TempDir()
	dirs := []string{filepath.Join(tmp, "a", "kubeship"), filepath.Join(tmp, "somewhere-else", "src", "kubeship-second-copy")}
	dists := make([]map[string][]byte, len(dirs))
	for i, dir := range dirs {
		if out, err := exec.Command("git", "clone", "--quiet", root, dir).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
		git(t, dir, "checkout", "--quiet", "--detach", head)
		start := time.Now()
		cmd := exec.Command("make", "--no-print-directory", "dist")
		cmd.Dir = dir
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make dist in %s: %v\n%s", dir, err, out)
		}
		t.Logf("make dist in %s: %s", dir, time.Since(start).Round(time.Second))
		dists[i] = readDir(t, filepath.Join(dir, "dist"))
		sums := exec.Command("sha256sum", "-c", "SHA256SUMS")
		sums.Dir = filepath.Join(dir, "dist")
		if out, err := sums.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c SHA256SUMS in %s: %v\n%s", dir, err, out)
		}
	}

	var names []string
	for name := range dists[0] {
		names = append(names, name)
	}
	slices.Sort(names)
	wantNames := []string{"SHA256SUMS"}
	for _, a := range arches {
		wantNames = append(wantNames, "kubeship_"+want+"_linux_"+a+".cdx.json", "kubeship_"+want+"_linux_"+a+".tar.gz")
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("make dist wrote %v, want %v", names, wantNames)
	}
	same := func(a, b map[string][]byte, what string) {
		for _, name := range names {
			if !bytes.Equal(a[name], b[name]) {
				t.Errorf("%s: %s differs", what, name)
			}
		}
		if len(a) != len(b) {
			t.Errorf("%s: %d files against %d", what, len(a), len(b))
		}
	}
	same(dists[0], dists[1], "the two clones")
	for _, name := range names {
		sum := sha256.Sum256(dists[0][name])
		t.Logf("%-60s %9d bytes  sha256 %s", name, len(dists[0][name]), hex.EncodeToString(sum[:]))
	}

	// The working tree's own dist/, when built from this commit unchanged.
	if a, err := read(); err == nil && a.version == want {
		same(dists[0], readDir(t, a.dir), "a clone and the working tree's dist/")
	} else {
		t.Logf("the working tree's dist/ is not of %s (it is built from uncommitted changes, or stale): not compared", want)
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}
