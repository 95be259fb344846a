package dist

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/test/host"
)

// dockerfiles are the images a release builds: the Dockerfile, its image's
// name, and the ARG naming the Fluent Bit inside it.
type image struct {
	dockerfile, name, fluentBit string
	base                        string // the final FROM, with the ARGs' defaults in
}

// images reads the Dockerfiles' defaults.
func images(t *testing.T, root string) []image {
	t.Helper()
	arg := func(text, name string) string {
		m := regexp.MustCompile(`(?m)^ARG ` + name + `=(\S+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no ARG %s=<default> in the Dockerfile", name)
		}
		return m[1]
	}
	var out []image
	for _, im := range []struct{ file, name, base string }{
		{"docker/Dockerfile", "fluent-bit-kubeship", "fluent/fluent-bit:${FLUENT_BIT_VERSION}"},
		{"docker/Dockerfile.aws-for-fluent-bit", "aws-for-fluent-bit-kubeship",
			"public.ecr.aws/aws-observability/aws-for-fluent-bit:${AWS_FOR_FLUENT_BIT_VERSION}"},
	} {
		b, err := os.ReadFile(filepath.Join(root, im.file))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if !strings.Contains(text, "\nFROM "+im.base+"\n") {
			t.Errorf("%s: its image is not FROM %s", im.file, im.base)
		}
		base := strings.ReplaceAll(im.base, "${FLUENT_BIT_VERSION}", arg(text, "FLUENT_BIT_VERSION"))
		if strings.Contains(base, "AWS_") {
			base = strings.ReplaceAll(base, "${AWS_FOR_FLUENT_BIT_VERSION}", arg(text, "AWS_FOR_FLUENT_BIT_VERSION"))
		}
		out = append(out, image{dockerfile: im.file, name: im.name, fluentBit: arg(text, "FLUENT_BIT_VERSION"), base: base})
	}
	return out
}

// pluginStages returns a Dockerfile's stages that produce /out_kubeship.so.
func pluginStages(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "FROM --platform=$BUILDPLATFORM golang:")
	j := strings.Index(s, "FROM plugin-${PLUGIN_FROM} AS plugin\n")
	if i < 0 || j < i {
		t.Fatalf("%s: no plugin-source and plugin-dist stages before FROM plugin-${PLUGIN_FROM} AS plugin", path)
	}
	return s[i:j]
}

var imageRef = regexp.MustCompile(`ghcr\.io/kubeship/([a-z0-9-]+)(?::([A-Za-z0-9_.${}<>-]+))?`)

// Every image name the repository mentions (docs, conf/ with the chart and
// manifests, docker/, the workflow) is one of the release's two images,
// tagged <version>-fluent-bit-<the Fluent Bit its Dockerfile puts in it>,
// the version being VERSION's (or a placeholder in prose); the chart's
// appVersion is VERSION; and both Dockerfiles build the plugin the same way.
func TestImagesNamedConsistently(t *testing.T) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	version := versionFile(t, root)
	fluentBit := map[string]string{}
	for _, im := range images(t, root) {
		fluentBit[im.name] = im.fluentBit
	}
	if a, b := pluginStages(t, filepath.Join(root, "docker/Dockerfile")),
		pluginStages(t, filepath.Join(root, "docker/Dockerfile.aws-for-fluent-bit")); a != b {
		t.Error("docker/Dockerfile and docker/Dockerfile.aws-for-fluent-bit build the plugin differently: keep their plugin stages the same")
	}

	var files []string
	for _, dir := range []string{"conf", "docs", "docker", ".github"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, path)
			}
			return nil
		})
	}
	files = append(files, filepath.Join(root, "README.md"), filepath.Join(root, "CONTRIBUTING.md"), filepath.Join(root, "CHANGELOG.md"))
	seen := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		for _, m := range imageRef.FindAllStringSubmatch(string(b), -1) {
			seen++
			fb, ok := fluentBit[m[1]]
			if !ok {
				t.Errorf("%s: %s: a release publishes only ghcr.io/kubeship/fluent-bit-kubeship and .../aws-for-fluent-bit-kubeship", rel, m[0])
				continue
			}
			if m[2] == "" {
				continue // a repository, e.g. the chart's image.repository
			}
			v, f, ok := strings.Cut(m[2], "-fluent-bit-")
			if !ok || f != fb || (v != version && v != "<version>" && v != "${V}" && v != "$V") {
				t.Errorf("%s: %s: want the tag %s-fluent-bit-%s (VERSION, and the Fluent Bit %s's Dockerfile puts in it)", rel, m[0], version, fb, m[1])
			}
		}
	}
	if seen == 0 {
		t.Fatal("no ghcr.io/kubeship/ image found in the repository: has the naming changed?")
	}

	chart, err := os.ReadFile(filepath.Join(root, "conf/helm/kubeship/Chart.yaml"))
	if err == nil {
		m := regexp.MustCompile(`(?m)^appVersion: "?([^"\s]+)"?$`).FindSubmatch(chart)
		if m == nil || string(m[1]) != version {
			t.Errorf("conf/helm/kubeship/Chart.yaml's appVersion is %q, want VERSION's %s (the image tags derive from it)", m, version)
		}
		_ = filepath.WalkDir(filepath.Join(root, "conf/helm"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(path)
			for _, m := range regexp.MustCompile(`-fluent-bit-(\d+\.\d+\.\d+)`).FindAllStringSubmatch(string(b), -1) {
				if m[1] != fluentBit["fluent-bit-kubeship"] && m[1] != fluentBit["aws-for-fluent-bit-kubeship"] {
					rel, _ := filepath.Rel(root, path)
					t.Errorf("%s: an image tag for Fluent Bit %s, which no Dockerfile builds (%v)", rel, m[1], fluentBit)
				}
			}
			return nil
		})
	}
}

// make images names both images <version>-fluent-bit-<Fluent Bit> under
// IMAGE_REPO, with the README's command (run here with -n: no Docker).
func TestMakeImagesTags(t *testing.T) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var cmdline string
	for _, b := range blocks(t, root, "README.md") {
		for _, l := range b.lines {
			if strings.HasPrefix(l, "make images ") {
				cmdline = l
			}
		}
	}
	if cmdline == "" {
		t.Fatal("the README shows no `make images ...` command")
	}
	args := strings.Fields(cmdline)[1:]
	repo, platforms := "", ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "IMAGE_REPO="); ok {
			repo = v
		}
		if v, ok := strings.CutPrefix(a, "PLATFORMS="); ok {
			platforms = v
		}
	}
	out := runMake(t, root, append([]string{"-n"}, args...)...)
	version := strings.TrimSpace(runMake(t, root, "-s", "version"))
	for _, im := range images(t, root) {
		tag := " -t " + repo + "/" + im.name + ":" + version + "-fluent-bit-" + im.fluentBit + " "
		if !strings.Contains(out, tag) {
			t.Errorf("make %s does not tag%s:\n%s", strings.Join(args, " "), tag, out)
		}
	}
	for _, want := range []string{"--push", "--platform " + platforms, "--build-arg VERSION=" + version} {
		if !strings.Contains(out, want) {
			t.Errorf("make %s lacks %s:\n%s", strings.Join(args, " "), want, out)
		}
	}
}

// runMake runs make in dir with none of a calling make's variables.
func runMake(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// cleanEnv is the environment without a calling make's flags and
// variables, so a nested make decides for itself.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VERSION", "GOARCH", "GOFLAGS":
			continue
		}
		env = append(env, e)
	}
	return env
}
