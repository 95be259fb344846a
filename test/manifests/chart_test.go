package manifests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	chartDir    = "../../conf/helm/kubeship"
	examplesDir = "../../conf/helm/examples"
	renderedDir = "../../conf/k8s"
	release     = "kubeship"
	namespace   = "logging"
)

// helmBin returns the helm `make helm` builds ($HELM_BIN, else
// build/helm), or skips the test saying so.
func helmBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM_BIN")
	if bin == "" {
		bin = "../../build/helm"
	}
	abs, err := filepath.Abs(bin)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		t.Skipf("SKIPPED: no helm at %s: run `make helm` (or set HELM_BIN); make test builds it", bin)
	}
	return abs
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	// No user's repositories, plugins or cache: the chart has no dependencies.
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+dir, "HELM_CACHE_HOME="+dir, "HELM_DATA_HOME="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// examples lists conf/helm/examples/*.yaml by name (without .yaml).
func examples(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples under conf/helm/examples (%v)", err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".yaml"))
	}
	return names
}

// releaseOf is the release an example's own comment installs it as
// (`helm install <release> ...`), kubeship when it names none.
func releaseOf(t *testing.T, example string) string {
	t.Helper()
	if example == "" {
		return release
	}
	b, err := os.ReadFile(filepath.Join(examplesDir, example+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if m := helmInstall.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return release
}

// render runs helm template on the chart with an example's values and
// more --set flags, as the example's `helm install <release> --namespace
// logging` would.
func render(t *testing.T, example string, sets ...string) (string, error) {
	t.Helper()
	args := []string{"template", releaseOf(t, example), chartDir, "--namespace", namespace}
	if example != "" {
		args = append(args, "-f", filepath.Join(examplesDir, example+".yaml"))
	}
	for _, s := range sets {
		flag := "--set"
		if strings.Contains(s, "\n") {
			flag = "--set-string" // a section of Fluent Bit's config
		}
		args = append(args, flag, s)
	}
	return helm(t, args...)
}

// header is the comment heading each rendered file of conf/k8s.
func header(release, example string) string {
	return fmt.Sprintf(`# Rendered from conf/helm/examples/%[1]s.yaml by `+"`make chart-render`"+`:
#   helm template %[2]s conf/helm/kubeship --namespace logging -f conf/helm/examples/%[1]s.yaml
# kubectl apply -f of this file (namespace logging existing) makes what
# helm install makes. Do not edit: change the chart or the example and run
# make chart-render; make test fails while this file is out of date.
`, example, release)
}

// helm lint --strict passes with the chart's defaults and each example.
func TestChartLints(t *testing.T) {
	if _, err := helm(t, "lint", "--strict", chartDir); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, ex := range examples(t) {
		out, err := helm(t, "lint", "--strict", chartDir, "--namespace", namespace, "-f", filepath.Join(examplesDir, ex+".yaml"))
		if err != nil {
			t.Errorf("%s: %v", ex, err)
		} else if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("%s: %s", ex, out)
		}
	}
}

// conf/k8s/<example>.yaml is helm template's output for that example, so
// kubectl apply -f users get the objects helm install makes.
// UPDATE_RENDERED=1 (make chart-render) writes them.
func TestRenderedManifestsAreUpToDate(t *testing.T) {
	update := os.Getenv("UPDATE_RENDERED") != ""
	want := map[string]bool{}
	for _, ex := range examples(t) {
		out, err := render(t, ex)
		if err != nil {
			t.Errorf("%s: %v", ex, err)
			continue
		}
		content := header(releaseOf(t, ex), ex) + out
		path := filepath.Join(renderedDir, ex+".yaml")
		want[filepath.Base(path)] = true
		have, _ := os.ReadFile(path)
		if string(have) == content {
			continue
		}
		if update {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", path)
			continue
		}
		t.Errorf("conf/k8s/%s.yaml is not helm template's output for conf/helm/examples/%s.yaml: run make chart-render", ex, ex)
	}
	// Every other file of conf/k8s says it is written by hand.
	paths, _ := filepath.Glob(filepath.Join(renderedDir, "*.yaml"))
	for _, p := range paths {
		if want[filepath.Base(p)] {
			continue
		}
		b, _ := os.ReadFile(p)
		if strings.HasPrefix(string(b), "# Rendered from") {
			t.Errorf("%s was rendered from an example that no longer exists: remove it", p)
		}
	}
}

// Each example renders into objects that decode strictly and pass every
// policy; the objects each makes are logged (go test -v).
func TestExamplesRender(t *testing.T) {
	for _, ex := range examples(t) {
		t.Run(ex, func(t *testing.T) {
			out, err := render(t, ex)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := decode(ex, []byte(out))
			if err != nil {
				t.Fatal(err)
			}
			s := set{name: ex, docs: docs}
			checkSet(t, s)
			t.Logf("%s makes:\n  %s", ex, strings.Join(s.list(), "\n  "))
		})
	}
}

// More value sets than the examples show: each renders, decodes strictly
// and passes the policy.
func TestValueSetsRender(t *testing.T) {
	for _, tt := range []struct {
		name, example string
		sets          []string
		want          []string // kinds the set must hold
	}{
		{"defaults", "", nil, []string{"*v1.Deployment", "*v1.ConfigMap", "*v1.PodDisruptionBudget", "*v2.HorizontalPodAutoscaler"}},
		{"self_logs_to_cloudwatch", "fargate-loki", []string{"router.aggregatorLogs=cloudwatch"}, nil},
		{"loki_bearer", "fargate-loki", []string{"loki.auth.type=bearer", "loki.auth.existingSecret=loki-token", "loki.auth.secretKey=token"}, nil},
		{"canary_with_auth", "fargate-loki", []string{"canary.username=123", "canary.existingSecret=loki-canary", "canary.tls=true"}, nil},
		{"no_autoscaling", "fargate-loki", []string{"autoscaling.enabled=false", "replicaCount=3"}, []string{"*v1.PodDisruptionBudget"}},
		{"statefulset_datadog", "ec2-statefulset", []string{"datadog.enabled=true", "datadog.apiKey.existingSecret=dd", "storage.volumeClaim.size=20Gi"}, []string{"*v1.StatefulSet"}},
		{"router_tls", "fargate-both", []string{"router.create=true", "router.tls=true"}, nil},
		{"daemonset_both", "ec2-daemonset", []string{"datadog.enabled=true", "datadog.apiKey.existingSecret=dd", "metrics.serviceMonitor.enabled=true"}, []string{"*v1.DaemonSet", "*v1.ServiceMonitor"}},
		{"image_digest", "fargate-loki", []string{"image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, nil},
		{"metrics_listen", "fargate-both", []string{"config.metricsListen=true", "metrics.serviceMonitor.enabled=true"}, []string{"*v1.ServiceMonitor"}},
		{"metrics_listen_daemonset", "ec2-daemonset", []string{"config.metricsListen=true", "config.metricsPort=9102", "metrics.serviceMonitor.enabled=true"}, []string{"*v1.ServiceMonitor"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := render(t, tt.example, tt.sets...)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := decode(tt.name, []byte(out))
			if err != nil {
				t.Fatal(err)
			}
			s := set{name: tt.name, docs: docs}
			checkSet(t, s)
			for _, k := range tt.want {
				if s.kinds()[k] == 0 {
					t.Errorf("no %s among %v", k, s.kinds())
				}
			}
		})
	}
}

// kubeship's metrics are scraped from Fluent Bit's endpoint: no example
// (nor the defaults) sets metrics_listen, and config.metricsListen sets it
// in every kubeship output.
func TestMetricsOnFluentBitsEndpoint(t *testing.T) {
	count := func(t *testing.T, example string, sets ...string) (outs, listens int) {
		t.Helper()
		out, err := render(t, example, sets...)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := decode(example, []byte(out))
		if err != nil {
			t.Fatal(err)
		}
		s := set{name: example, docs: docs}
		for _, w := range s.workloads() {
			if _, conf, ok := s.fluentBit(w); ok {
				for _, o := range sectionsOf(parseClassic(conf), "OUTPUT", "kubeship") {
					outs++
					if o.get("metrics_listen") != "" {
						listens++
					}
				}
			}
		}
		return outs, listens
	}
	for _, ex := range append([]string{""}, examples(t)...) {
		if outs, listens := count(t, ex); outs == 0 || listens > 0 {
			t.Errorf("example %q: %d of %d kubeship outputs set metrics_listen, want none", ex, listens, outs)
		}
	}
	if outs, listens := count(t, "fargate-both", "config.metricsListen=true"); outs != 2 || listens != 2 {
		t.Errorf("config.metricsListen=true: %d of %d kubeship outputs set metrics_listen, want 2 of 2", listens, outs)
	}
}

// Values the chart refuses, each with a line saying what to fix.
func TestChartRefuses(t *testing.T) {
	for _, tt := range []struct {
		name, example string
		sets          []string
		says          string
	}{
		{"one_replica_minimum", "fargate-loki", []string{"autoscaling.minReplicas=1"}, "minReplicas must be 2 or more"},
		{"datadog_without_secret", "fargate-loki", []string{"datadog.enabled=true"}, "datadog.apiKey.existingSecret is required"},
		{"no_destination", "fargate-loki", []string{"loki.enabled=false"}, "enable loki, datadog or both"},
		{"unknown_kind", "fargate-loki", []string{"kind=Job"}, `kind: "Job"`},
		{"variable_in_router", "fargate-loki", []string{"router.extraFilters=[FILTER]\n    Name modify\n    Match kube.*\n    Add cluster ${CLUSTER}"}, "${...}"},
		{"router_too_long", "fargate-loki", []string{"router.extraFilters=[FILTER]\n    Name grep\n    Match kube.*\n    Exclude log " + strings.Repeat("x", 5000)}, "under 5300"},
		{"load_balancer_without_name", "fargate-loki", []string{"service.type=LoadBalancer"}, "service.loadBalancer.hostname"},
		{"basic_auth_without_user", "fargate-loki", []string{"loki.auth.type=basic", "loki.auth.existingSecret=s"}, "loki.auth.username is required"},
		{"auth_without_secret", "fargate-loki", []string{"loki.auth.type=bearer"}, "loki.auth.existingSecret is required"},
		{"unknown_auth", "fargate-loki", []string{"loki.auth.type=digest"}, `loki.auth.type: "digest"`},
		{"no_drain", "fargate-loki", []string{"config.drainSeconds=0"}, "Grace must exceed retry_budget"},
		{"unknown_self_logs", "fargate-loki", []string{"router.aggregatorLogs=loki"}, `router.aggregatorLogs: "loki"`},
		{"security_groups_unnamed", "fargate-loki", []string{"securityGroupPolicy.enabled=true"}, "securityGroupPolicy.groupIds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := render(t, tt.example, tt.sets...)
			if err == nil {
				t.Fatalf("rendered, want a refusal saying %q:\n%.400s", tt.says, out)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("refused with %v\nwant it to say %q", err, tt.says)
			}
		})
	}
}

// With router.create false (a cluster whose aws-logging ConfigMap already
// exists), helm install prints the [OUTPUT] sections the chart would have
// put in it, to merge by hand: the same text, byte for byte.
func TestNotesPrintTheRouterOutput(t *testing.T) {
	for _, ex := range []string{"fargate-both", "fargate-loki"} {
		t.Run(ex, func(t *testing.T) {
			created, err := render(t, ex, "router.create=true")
			if err != nil {
				t.Fatal(err)
			}
			docs, err := decode(ex, []byte(created))
			if err != nil {
				t.Fatal(err)
			}
			cm := (set{docs: docs}).configMap("aws-logging")
			if cm == nil {
				t.Fatal("router.create=true made no aws-logging ConfigMap")
			}
			out, err := helm(t, "install", release, chartDir, "--namespace", namespace, "--dry-run=client",
				"-f", filepath.Join(examplesDir, ex+".yaml"), "--set", "router.create=false")
			if err != nil {
				t.Fatal(err)
			}
			_, notes, ok := strings.Cut(out, "NOTES:\n")
			if !ok {
				t.Fatalf("no NOTES in helm install's output:\n%s", out)
			}
			if !strings.Contains(notes, strings.TrimSpace(cm.Data["output.conf"])) {
				t.Errorf("NOTES do not hold the router's output.conf:\n%s\nNOTES:\n%s", cm.Data["output.conf"], notes)
			}
		})
	}
}

// The objects each shipped file makes, for the docs and the record.
func TestRenderedObjectLists(t *testing.T) {
	var lines []string
	for _, s := range files(t) {
		lines = append(lines, s.name+":")
		for _, o := range s.list() {
			lines = append(lines, "  "+o)
		}
	}
	t.Logf("\n%s", strings.Join(lines, "\n"))
}

var helmInstall = regexp.MustCompile(`helm (?:install|upgrade) (\S+) conf/helm/kubeship --namespace (\S+)(?: --create-namespace)? -f conf/helm/examples/(\S+)\.yaml`)

// The helm install commands docs/fargate.md and the examples show are the
// ones these tests render: an example of conf/helm/examples, namespace
// logging, the release the example's own comment names.
func TestDocumentedInstallsAreTheRenderedOnes(t *testing.T) {
	exs := map[string]bool{}
	for _, ex := range examples(t) {
		exs[ex] = true
	}
	files := []string{"../../docs/fargate.md"}
	for ex := range exs {
		files = append(files, filepath.Join(examplesDir, ex+".yaml"))
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range helmInstall.FindAllStringSubmatch(string(b), -1) {
			if !exs[m[3]] || m[1] != releaseOf(t, m[3]) || m[2] != namespace {
				t.Errorf("%s: %q: the tests render an example of conf/helm/examples in namespace %s as the release its own comment names", f, m[0], namespace)
			}
			seen[m[3]] = true
		}
		if strings.Contains(string(b), "helm install") && !helmInstall.Match(b) {
			t.Errorf("%s: a helm install the tests do not recognize", f)
		}
	}
	for ex := range exs {
		if !seen[ex] {
			t.Errorf("no helm install shows example %s", ex)
		}
	}
}
