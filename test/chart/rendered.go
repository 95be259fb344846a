// Package chart reads the chart's renderings under conf/k8s (helm
// template's output for each example of conf/helm/examples, which
// test/manifests keeps current) and maps a rendered Fluent Bit
// configuration's paths and addresses to a test's, so that tests and the
// sizing bench run the configuration users install. Its tests run the
// rendered router and aggregator with real Fluent Bits.
package chart

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Rendered is one file of conf/k8s: helm template's output for an example
// of conf/helm/examples.
type Rendered struct {
	path string
	docs []string
}

// Read reads conf/k8s/<example>.yaml under the repository root.
func Read(root, example string) (Rendered, error) {
	return ReadFile(filepath.Join(root, "conf", "k8s", example+".yaml"))
}

// ReadFile reads a multi-document manifest file.
func ReadFile(path string) (Rendered, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Rendered{}, err
	}
	r := Rendered{path: path}
	var cur []string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "---" {
			r.docs = append(r.docs, strings.Join(cur, "\n"))
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	r.docs = append(r.docs, strings.Join(cur, "\n"))
	return r, nil
}

// ConfigMap returns a data key of the ConfigMap named name: the block
// scalar helm wrote (`  key: |` then lines indented by four), read line by
// line as the chart's templates write it.
func (r Rendered) ConfigMap(name, key string) (string, error) {
	for _, d := range r.docs {
		lines := strings.Split(d, "\n")
		if !hasLine(lines, "kind: ConfigMap") || !hasLine(lines, "  name: "+name) {
			continue
		}
		for i, l := range lines {
			if l != "  "+key+": |" && l != "  "+key+": |-" {
				continue
			}
			var out []string
			for _, m := range lines[i+1:] {
				if strings.TrimSpace(m) != "" && !strings.HasPrefix(m, "    ") {
					break
				}
				out = append(out, strings.TrimPrefix(m, "    "))
			}
			return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n", nil
		}
		return "", fmt.Errorf("%s: ConfigMap %s has no %s", r.path, name, key)
	}
	return "", fmt.Errorf("%s: no ConfigMap %s", r.path, name)
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// A Mapping rewrites a rendered Fluent Bit configuration for a test: the
// paths and addresses of the pod become the test's. Each key of a section
// it maps must be there, so a changed chart fails the test rather than
// running something else.
type Mapping struct {
	Section string // SERVICE, INPUT, FILTER, OUTPUT
	Name    string // the section's Name, "" for any
	Key     string // case-insensitive
	Value   func(old string) string
}

// Apply rewrites conf, and fails when a mapping found no line to rewrite.
func Apply(conf string, maps []Mapping) (string, error) {
	lines := strings.Split(conf, "\n")
	used := make([]bool, len(maps))
	var kind, name string
	start := 0
	for i := 0; i <= len(lines); i++ {
		if i < len(lines) {
			t := strings.TrimSpace(lines[i])
			if !strings.HasPrefix(t, "[") || !strings.HasSuffix(t, "]") {
				continue
			}
		}
		// the section lines[start:i] ends: find its Name, then rewrite
		name = ""
		for _, l := range lines[start:i] {
			if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], "name") {
				name = f[1]
			}
		}
		for j := start; j < i; j++ {
			f := strings.Fields(lines[j])
			if len(f) < 1 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], "[") {
				continue
			}
			for k, m := range maps {
				if m.Section == kind && (m.Name == "" || strings.EqualFold(m.Name, name)) && strings.EqualFold(m.Key, f[0]) {
					old := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[j]), f[0]))
					indent := lines[j][:len(lines[j])-len(strings.TrimLeft(lines[j], " "))]
					lines[j] = indent + f[0] + " " + m.Value(old)
					used[k] = true
				}
			}
		}
		if i < len(lines) {
			kind = strings.ToUpper(strings.Trim(strings.TrimSpace(lines[i]), "[]"))
			start = i
		}
	}
	for k, m := range maps {
		if !used[k] {
			return "", fmt.Errorf("no %s of [%s] %s in the rendered configuration:\n%s", m.Key, m.Section, m.Name, conf)
		}
	}
	return strings.Join(lines, "\n"), nil
}

// Set is a Mapping's Value that replaces the old value with v.
func Set(v string) func(string) string { return func(string) string { return v } }

// InsertAfter adds line after the first line of conf whose fields are
// key value (case-insensitive key).
func InsertAfter(conf, key, value, line string) (string, error) {
	lines := strings.Split(conf, "\n")
	for i, l := range lines {
		if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], key) && f[1] == value {
			indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
			lines = append(lines[:i+1], append([]string{indent + line}, lines[i+1:]...)...)
			return strings.Join(lines, "\n"), nil
		}
	}
	return "", fmt.Errorf("no %s %s in the rendered configuration", key, value)
}

// Local says where a test runs the rendered aggregator: the pod's paths
// and addresses become these.
type Local struct {
	Dir         string // storage (Dir/storage) and plugins.conf
	Port        int    // the elasticsearch input, on 127.0.0.1
	HTTPPort    int    // Fluent Bit's HTTP server, on 127.0.0.1
	MetricsPort int    // kubeship's metrics_listen, on 127.0.0.1, where the rendering sets it (config.metricsListen)
	LokiURL     string // replaces the Loki output's url
	LokiLabels  string // appended to its labels, e.g. ",run=x"
	DatadogURL  string // the Datadog output's url (site's intake otherwise)
	APIKeyFile  string // replaces apikey_file
}

// Aggregator maps the example's rendered aggregator configuration (the
// fluent-bit.conf of ConfigMap kubeship-aggregator) to l.
func (r Rendered) Aggregator(l Local) (string, error) {
	conf, err := r.ConfigMap("kubeship-aggregator", "fluent-bit.conf")
	if err != nil {
		return "", err
	}
	maps := []Mapping{
		{"SERVICE", "", "plugins_file", Set(filepath.Join(l.Dir, "plugins.conf"))},
		{"SERVICE", "", "storage.path", Set(filepath.Join(l.Dir, "storage") + "/")},
		{"SERVICE", "", "http_listen", Set("127.0.0.1")},
		{"SERVICE", "", "http_port", Set(fmt.Sprint(l.HTTPPort))},
		{"INPUT", "elasticsearch", "listen", Set("127.0.0.1")},
		{"INPUT", "elasticsearch", "port", Set(fmt.Sprint(l.Port))},
	}
	// kubeship's metrics are on Fluent Bit's endpoint (HTTPPort); the chart
	// sets metrics_listen only with config.metricsListen.
	if strings.Contains(conf, "metrics_listen") {
		if l.MetricsPort == 0 {
			return "", fmt.Errorf("%s: the rendered aggregator sets metrics_listen: give Local a MetricsPort", r.path)
		}
		maps = append(maps, Mapping{"OUTPUT", "kubeship", "metrics_listen", Set(fmt.Sprintf("127.0.0.1:%d", l.MetricsPort))})
	}
	if l.LokiURL != "" {
		maps = append(maps, Mapping{"OUTPUT", "kubeship", "url", Set(l.LokiURL)})
		if l.LokiLabels != "" {
			maps = append(maps, Mapping{"OUTPUT", "kubeship", "labels", func(old string) string { return old + l.LokiLabels }})
		}
	}
	if l.APIKeyFile != "" {
		maps = append(maps, Mapping{"OUTPUT", "kubeship", "apikey_file", Set(l.APIKeyFile)})
	}
	if conf, err = Apply(conf, maps); err != nil {
		return "", err
	}
	if l.DatadogURL != "" {
		conf, err = InsertAfter(conf, "destination", "datadog", "url                      "+l.DatadogURL)
	}
	return conf, err
}

// CanaryArgs returns the loki-canary container's args of the rendered
// canary Deployment (kubeship-canary).
func (r Rendered) CanaryArgs() ([]string, error) {
	for _, d := range r.docs {
		lines := strings.Split(d, "\n")
		if !hasLine(lines, "kind: Deployment") || !hasLine(lines, "  name: kubeship-canary") {
			continue
		}
		for i, l := range lines {
			if strings.TrimSpace(l) != "args:" {
				continue
			}
			indent := len(l) - len(strings.TrimLeft(l, " "))
			var args []string
			for _, m := range lines[i+1:] {
				t := strings.TrimSpace(m)
				if !strings.HasPrefix(t, "- ") || len(m)-len(strings.TrimLeft(m, " ")) <= indent {
					break
				}
				args = append(args, strings.TrimPrefix(t, "- "))
			}
			return args, nil
		}
	}
	return nil, fmt.Errorf("%s: no kubeship-canary Deployment with args", r.path)
}

// KubeshipMetric scrapes Fluent Bit's endpoint, /api/v2/metrics/prometheus
// on 127.0.0.1:httpPort, and returns fluentbit_kubeship_<name> by
// destination, summed over the outputs (and other labels), and whether
// the scrape held it at all.
func KubeshipMetric(httpPort int, name string) (map[string]float64, bool, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v2/metrics/prometheus", httpPort))
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, false, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("/api/v2/metrics/prometheus: %s: %.200s", resp.Status, b)
	}
	m, found := map[string]float64{}, false
	for _, l := range strings.Split(string(b), "\n") {
		labels, ok := strings.CutPrefix(l, "fluentbit_kubeship_"+name+"{")
		end := strings.LastIndexByte(labels, '}')
		if !ok || end < 0 {
			continue
		}
		// value, then an optional timestamp
		f := strings.Fields(labels[end+1:])
		if len(f) == 0 {
			return nil, false, fmt.Errorf("unreadable line %q", l)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, false, fmt.Errorf("line %q: %v", l, err)
		}
		dest := ""
		if _, rest, ok := strings.Cut(labels[:end], `destination="`); ok {
			dest, _, _ = strings.Cut(rest, `"`)
		}
		m[dest] += v
		found = true
	}
	return m, found, nil
}
