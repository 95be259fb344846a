// Package conf checks the Fluent Bit configurations shipped in conf/: every
// kubeship output's keys are accepted by kubeship's own parser, and, when a
// real Fluent Bit is at hand, Fluent Bit accepts each whole file.
package conf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
)

// outputs returns the keys of each kubeship output in a classic (.conf) or
// YAML (.yaml) Fluent Bit configuration. Both are read line by line: the
// shipped files keep to one `key value` (or `key: value`) a line.
func outputs(t *testing.T, path string) []config.Map {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.HasSuffix(path, ".yaml")
	var out []config.Map
	var cur config.Map
	inOutputs := false
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		var k, v string
		if yaml {
			if !strings.HasPrefix(line, " ") {
				inOutputs = false
			}
			if trimmed == "outputs:" {
				inOutputs = true
				continue
			}
			if !inOutputs {
				continue
			}
			item := strings.HasPrefix(trimmed, "- ")
			k, v, _ = strings.Cut(strings.TrimPrefix(trimmed, "- "), ":")
			if item {
				cur = config.Map{}
				out = append(out, cur)
			}
		} else {
			if strings.HasPrefix(trimmed, "[") {
				cur = nil
				if strings.EqualFold(trimmed, "[OUTPUT]") {
					cur = config.Map{}
					out = append(out, cur)
				}
				continue
			}
			if cur == nil {
				continue
			}
			k, v, _ = strings.Cut(trimmed, " ")
		}
		if cur != nil {
			cur[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	var kubeship []config.Map
	for _, o := range out {
		if o.Get("name") == "kubeship" {
			kubeship = append(kubeship, o)
		}
	}
	return kubeship
}

// Keys Fluent Bit keeps for itself and never passes to a Go plugin.
var fluentBitKeys = []string{"name", "match", "alias", "workers", "retry_limit"}

func TestShippedConfigsHaveValidKubeshipKeys(t *testing.T) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "conf", "fluent-bit*"))
	if len(files) < 6 {
		t.Fatalf("want Loki, Datadog and both, as .conf and .yaml, in conf/; found %v", files)
	}
	apikey := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(apikey, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			outs := outputs(t, f)
			if len(outs) == 0 {
				t.Fatal("no kubeship output")
			}
			for _, o := range outs {
				for _, k := range fluentBitKeys {
					delete(o, k)
				}
				if o.Get("apikey_file") != "" {
					o["apikey_file"] = apikey // the Secret mounted in a pod
				}
				if _, err := config.Parse(o); err != nil {
					t.Errorf("kubeship refuses %v: %v", o, err)
				}
			}
		})
	}
}

// A real Fluent Bit accepts each file as it is (--dry-run), the plugin
// loaded from build/.
func TestShippedConfigsLoadInFluentBit(t *testing.T) {
	bin := fluentbit.Need(t)
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(root, "build", "out_kubeship.so")
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(root, "conf", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // conf/k8s
		}
		b = []byte(strings.ReplaceAll(string(b), "/fluent-bit/plugins/out_kubeship.so", so))
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	confs, _ := filepath.Glob(filepath.Join(dir, "fluent-bit*"))
	for _, f := range confs {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if strings.HasSuffix(f, ".conf") {
				b, _ := os.ReadFile(f)
				fluentbit.SkipIfMissing(t, fluentbit.Check(bin, string(b)))
			}
			cmd := exec.Command(bin, "--dry-run", "-c", f)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "configuration test is successful") {
				t.Errorf("fluent-bit --dry-run -c %s: %v\n%s", filepath.Base(f), err, out)
			}
		})
	}
}
