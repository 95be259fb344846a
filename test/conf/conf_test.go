// Package conf checks the Fluent Bit configurations users copy: the
// pipelines at the top of conf/ and their YAML twins, conf/quickstart, the
// configurations embedded in conf/k8s (the chart's renderings and the
// sidecar), and the compose demo's (docker/fluent-bit.conf). Every kubeship output's keys are accepted by kubeship's own
// parser; a real Fluent Bit, when at hand, accepts each whole file; and each
// .yaml twin says and delivers what its .conf does (twins_test.go).
package conf

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
)

// A shipped configuration: where it is, and its text as Fluent Bit reads it
// (for an embedded one, the ConfigMap's block without its indentation).
type shipped struct {
	name, text string
	yaml       bool
}

// shippedConfigs returns every configuration users copy.
func shippedConfigs(t *testing.T, root string) []shipped {
	t.Helper()
	var out []shipped
	files := pipelines(t, root)
	quick, _ := filepath.Glob(filepath.Join(root, "conf", "quickstart", "*.conf"))
	files = append(files, quick...)
	files = append(files, filepath.Join(root, "docker", "fluent-bit.conf")) // the compose demo's
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		out = append(out, shipped{rel, string(b), strings.HasSuffix(f, ".yaml")})
	}
	manifests, _ := filepath.Glob(filepath.Join(root, "conf", "k8s", "*.yaml"))
	for _, f := range manifests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for i, block := range embedded(string(b), "fluent-bit.conf") {
			out = append(out, shipped{name: rel + "#" + string(rune('0'+i)), text: block})
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d configurations: has conf/ changed shape?", len(out))
	}
	return out
}

// embedded returns the blocks of a manifest's `key: |` entries (ConfigMap
// data), without their indentation.
func embedded(manifest, key string) []string {
	var out []string
	lines := strings.Split(manifest, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != key+": |" {
			continue
		}
		indent := len(l) - len(strings.TrimLeft(l, " ")) + 2
		var block []string
		for _, m := range lines[i+1:] {
			if strings.TrimSpace(m) != "" && len(m)-len(strings.TrimLeft(m, " ")) < indent {
				break
			}
			block = append(block, strings.TrimPrefix(m, strings.Repeat(" ", indent)))
		}
		out = append(out, strings.Join(block, "\n")+"\n")
	}
	return out
}

var envRef = regexp.MustCompile(`\$\{(\w+)\}`)

// Keys Fluent Bit keeps for itself and never passes to a Go plugin.
var fluentBitKeys = []string{"name", "match", "match_regex", "alias", "workers", "retry_limit", "storage.total_limit_size", "log_level"}

// Every kubeship output of every shipped configuration is accepted by
// kubeship's own parser, with its ${VARIABLES} and mounted files in place.
func TestShippedConfigsHaveValidKubeshipKeys(t *testing.T) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	apikey := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(apikey, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range shippedConfigs(t, root) {
		t.Run(c.name, func(t *testing.T) {
			text := envRef.ReplaceAllString(c.text, "0123456789abcdef0123456789abcdef")
			var secs []section
			if c.yaml {
				secs, err = parseYAML(text)
			} else {
				secs, err = parseClassic(text)
			}
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, s := range secs {
				if s.kind != "output" || s.name() != "kubeship" {
					continue
				}
				n++
				o := config.Map{}
				for _, p := range s.props {
					if k := strings.ToLower(p.key); !slices.Contains(fluentBitKeys, k) {
						o[k] = p.value
					}
				}
				if o.Get("apikey_file") != "" {
					o["apikey_file"] = apikey // the Secret mounted in a pod
				}
				if _, err := config.Parse(o); err != nil {
					t.Errorf("kubeship refuses %v: %v", o, err)
				}
			}
			if n == 0 {
				t.Error("no kubeship output")
			}
		})
	}
}

// A real Fluent Bit accepts each configuration as it is (--dry-run), the
// plugin loaded from build/ where the file loads it from its image's path.
func TestShippedConfigsLoadInFluentBit(t *testing.T) {
	bin := fluentbit.Need(t)
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(root, "build", "out_kubeship.so")
	for _, c := range shippedConfigs(t, root) {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			// Beside it, as in conf/ or the ConfigMap: plugins.conf and parsers.conf.
			for _, f := range []string{"plugins.conf", "parsers.conf"} {
				b, err := os.ReadFile(filepath.Join(root, "conf", f))
				if err != nil {
					t.Fatal(err)
				}
				b = []byte(strings.ReplaceAll(string(b), "/fluent-bit/plugins/out_kubeship.so", so))
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Where the images and the chart put plugins.conf and parsers.conf.
			text := strings.NewReplacer(
				"/fluent-bit/etc/kubeship/plugins.conf", filepath.Join(dir, "plugins.conf"),
				"/fluent-bit/etc/plugins.conf", filepath.Join(dir, "plugins.conf"),
				"/fluent-bit/etc/parsers-kubeship.conf", filepath.Join(dir, "parsers.conf"),
			).Replace(c.text)
			name := "fluent-bit.conf"
			if c.yaml {
				name = "fluent-bit.yaml"
			} else {
				fluentbit.SkipIfMissing(t, fluentbit.Check(bin, text))
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"--dry-run", "-c", name}
			if !strings.Contains(strings.ToLower(text), "plugins_file") {
				args = append(args, "-e", so) // as the Quick start runs it
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			cmd.Env = os.Environ()
			for _, m := range envRef.FindAllStringSubmatch(text, -1) {
				cmd.Env = append(cmd.Env, m[1]+"=0123456789abcdef0123456789abcdef")
			}
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "configuration test is successful") {
				t.Errorf("fluent-bit --dry-run -c %s: %v\n%s", c.name, err, out)
			}
		})
	}
}
