package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/test/host"
)

// Keys Fluent Bit keeps for itself and never passes to a Go plugin.
var fluentBitKeys = map[string]bool{"name": true, "match": true, "match_regex": true, "alias": true,
	"workers": true, "retry_limit": true, "storage.total_limit_size": true, "log_level": true}

// Every kubeship output the chart renders (each file of conf/k8s) is one
// kubeship's own parser accepts, the mounted files and the environment
// standing in as in the pod, and none sets metrics_listen. Needs no Fluent
// Bit.
func TestRenderedKubeshipKeysParse(t *testing.T) {
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	apikey := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(apikey, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(root, "conf", "k8s", "*.yaml"))
	outputs := 0
	for _, p := range paths {
		rd, err := ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"kubeship-aggregator", "kubeship-node", "checkout-kubeship"} {
			conf, err := rd.ConfigMap(name, "fluent-bit.conf")
			if err != nil {
				continue
			}
			for _, o := range kubeshipOutputs(conf) {
				outputs++
				// kubeship's metrics are on Fluent Bit's endpoint; the
				// chart's config.metricsListen (off) adds the listener.
				if l, ok := o["metrics_listen"]; ok {
					t.Errorf("%s, ConfigMap %s: metrics_listen %s: kubeship's metrics are on Fluent Bit's endpoint (port 2020, /api/v2/metrics/prometheus) without it", filepath.Base(p), name, l)
				}
				m := config.Map{}
				for k, v := range o {
					if fluentBitKeys[k] {
						continue
					}
					switch {
					case k == "apikey_file":
						v = apikey // the Secret mounted in the pod
					case strings.HasPrefix(v, "${"):
						v = "s3cret" // filled from a Secret
					}
					m[k] = v
				}
				if _, err := config.Parse(m); err != nil {
					t.Errorf("%s, ConfigMap %s: kubeship refuses %v: %v", filepath.Base(p), name, o, err)
				}
			}
		}
	}
	if outputs < 5 {
		t.Errorf("found %d kubeship outputs under conf/k8s, want every example's", outputs)
	}
}

// kubeshipOutputs returns the keys (lower case) of each [OUTPUT] Name
// kubeship of a classic configuration.
func kubeshipOutputs(conf string) []map[string]string {
	var out []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(conf, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasPrefix(t, "[") {
			if cur != nil && cur["name"] == "kubeship" {
				out = append(out, cur)
			}
			cur = nil
			if strings.EqualFold(t, "[OUTPUT]") {
				cur = map[string]string{}
			}
			continue
		}
		if cur != nil {
			k, v, _ := strings.Cut(t, " ")
			cur[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	if cur != nil && cur["name"] == "kubeship" {
		out = append(out, cur)
	}
	return out
}
