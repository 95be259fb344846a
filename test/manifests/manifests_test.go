// Package manifests checks the Kubernetes objects kubeship ships: the chart
// under conf/helm/kubeship, rendered by a real helm (built by `make helm`)
// for each example of conf/helm/examples and more value sets, and the files
// under conf/k8s (the examples' renderings, and the sidecar). Every object
// decodes strictly (unknown or misspelt fields fail) into its Kubernetes API
// type; each passes the policy below; the Fargate router's aws-logging
// ConfigMap keeps to what Fargate accepts.
package manifests

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// workload is a Deployment, StatefulSet or DaemonSet.
type workload struct {
	kind, namespace, name string
	selector              *metav1.LabelSelector
	pod                   corev1.PodTemplateSpec
	claims                []corev1.PersistentVolumeClaim
}

func (s set) workloads() []workload {
	var out []workload
	for _, d := range s.docs {
		switch o := d.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{"Deployment", o.Namespace, o.Name, o.Spec.Selector, o.Spec.Template, nil})
		case *appsv1.StatefulSet:
			out = append(out, workload{"StatefulSet", o.Namespace, o.Name, o.Spec.Selector, o.Spec.Template, o.Spec.VolumeClaimTemplates})
		case *appsv1.DaemonSet:
			out = append(out, workload{"DaemonSet", o.Namespace, o.Name, o.Spec.Selector, o.Spec.Template, nil})
		}
	}
	return out
}

// fluentBit returns the workload's Fluent Bit container and its
// configuration (the fluent-bit.conf key of the ConfigMap it mounts), or
// false for a workload without one (the application of the sidecar
// example, the canary).
func (s set) fluentBit(w workload) (corev1.Container, string, bool) {
	for _, c := range w.pod.Spec.Containers {
		if c.Name != "fluent-bit" && c.Name != "kubeship" {
			continue
		}
		for _, m := range c.VolumeMounts {
			for _, v := range w.pod.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					if cm := s.configMap(v.ConfigMap.Name); cm != nil && cm.Data["fluent-bit.conf"] != "" {
						return c, cm.Data["fluent-bit.conf"], true
					}
				}
			}
		}
		return c, "", true
	}
	return corev1.Container{}, "", false
}

func selects(sel *metav1.LabelSelector, lbls map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(lbls))
}

// checkSet runs every policy on one set of objects.
func checkSet(t *testing.T, s set) {
	t.Helper()
	checkReferences(t, s)
	checkWorkloads(t, s)
	checkNoSecretInConfigMaps(t, s)
	checkAggregator(t, s)
	checkMetricsServices(t, s)
	checkRBAC(t, s)
	if cm := s.configMap("aws-logging"); cm != nil {
		checkFargateRouter(t, s, cm)
	}
}

// Workloads reference what the set defines (service accounts, config
// maps, volumes), and selectors match their pod labels.
func checkReferences(t *testing.T, s set) {
	have := map[string]bool{}
	for _, d := range s.docs {
		switch o := d.obj.(type) {
		case *corev1.ServiceAccount:
			have["sa/"+o.Namespace+"/"+o.Name] = true
		case *corev1.ConfigMap:
			have["cm/"+o.Namespace+"/"+o.Name] = true
		}
	}
	for _, w := range s.workloads() {
		spec := w.pod.Spec
		if sa := spec.ServiceAccountName; sa != "" && !have["sa/"+w.namespace+"/"+sa] {
			t.Errorf("%s: %s %s: service account %s/%s not defined", s.name, w.kind, w.name, w.namespace, sa)
		}
		vols := map[string]bool{}
		for _, v := range spec.Volumes {
			vols[v.Name] = true
			if v.ConfigMap != nil && !have["cm/"+w.namespace+"/"+v.ConfigMap.Name] {
				t.Errorf("%s: %s %s: config map %s/%s not defined", s.name, w.kind, w.name, w.namespace, v.ConfigMap.Name)
			}
		}
		for _, c := range w.claims {
			vols[c.Name] = true
		}
		for _, c := range spec.Containers {
			for _, m := range c.VolumeMounts {
				if !vols[m.Name] {
					t.Errorf("%s: %s %s: container %s mounts undefined volume %s", s.name, w.kind, w.name, c.Name, m.Name)
				}
			}
		}
		if !selects(w.selector, w.pod.Labels) {
			t.Errorf("%s: %s %s: selector %v does not match the pod template's labels %v", s.name, w.kind, w.name, w.selector, w.pod.Labels)
		}
	}
}

// Every container has requests and a memory limit, both probes, and a
// securityContext that drops every capability, forbids privilege
// escalation and keeps the root filesystem read-only; pods run as non-root
// (the DaemonSet, which reads the node's root-owned logs, as root without
// capabilities). Fluent Bit's pods expose named ports, carry scrape
// annotations, and stop within a grace period sized from retry_budget.
func checkWorkloads(t *testing.T, s set) {
	for _, w := range s.workloads() {
		where := fmt.Sprintf("%s: %s %s", s.name, w.kind, w.name)
		spec := w.pod.Spec
		for _, c := range spec.Containers {
			if !ours[c.Name] {
				continue // the application beside a sidecar
			}
			cw := where + " container " + c.Name
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("%s: no cpu or memory request", cw)
			}
			if c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: no memory limit", cw)
			}
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				t.Errorf("%s: readiness and liveness probes wanted", cw)
			}
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Errorf("%s: no securityContext", cw)
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Errorf("%s: allowPrivilegeEscalation must be false", cw)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Errorf("%s: readOnlyRootFilesystem must be true", cw)
			case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
				t.Errorf("%s: capabilities must drop ALL and add none", cw)
			}
			nonRoot := (sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) ||
				(spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot)
			if !nonRoot && w.kind != "DaemonSet" {
				t.Errorf("%s: runAsNonRoot wanted", cw)
			}
			for _, e := range c.Env {
				up := strings.ToUpper(e.Name)
				if e.Value != "" && (strings.Contains(up, "KEY") || strings.Contains(up, "PASS") || strings.Contains(up, "TOKEN") || strings.Contains(up, "SECRET")) {
					t.Errorf("%s: env %s holds a literal value: read it from a Secret", cw, e.Name)
				}
			}
		}
		if w.kind == "Deployment" {
			// Fargate runs pods with guaranteed QoS, sized from requests.
			for _, c := range spec.Containers {
				r := c.Resources
				if ours[c.Name] && (!r.Requests.Cpu().Equal(*r.Limits.Cpu()) || !r.Requests.Memory().Equal(*r.Limits.Memory())) {
					t.Errorf("%s container %s: requests %v differ from limits %v: Fargate wants them equal", where, c.Name, r.Requests, r.Limits)
				}
			}
		}
		c, conf, ok := s.fluentBit(w)
		if !ok || conf == "" {
			continue
		}
		secs := parseClassic(conf)
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		service := sectionsOf(secs, "SERVICE", "")
		if len(service) != 1 {
			t.Errorf("%s: want one [SERVICE] section", where)
			continue
		}
		svc := service[0]
		if svc.get("http_server") != "On" || svc.get("health_check") != "On" || fmt.Sprint(ports["http"]) != svc.get("http_port") {
			t.Errorf("%s: HTTP_Server and Health_Check On, HTTP_Port on the port named http (%d), want; have %v", where, ports["http"], svc.keys)
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/api/v1/health" || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s: readiness on /api/v1/health at port http wanted", where)
		}
		outs := sectionsOf(secs, "OUTPUT", "kubeship")
		if len(outs) == 0 {
			t.Errorf("%s: no kubeship output", where)
		}
		checkMetricsPorts(t, where, w, ports, outs)
		checkTermination(t, where, spec, c, svc, outs)
		checkBuffer(t, where, w, svc, outs)
	}
}

// kubeship's metrics are on Fluent Bit's endpoint
// (/api/v2/metrics/prometheus on the port named http), where the pod's
// scrape annotations point, and the pod declares no port named metrics
// that nothing listens on. Where the outputs set metrics_listen (for a
// Fluent Bit built without metrics), every one of them does, on the port
// named metrics, and the annotations point at its /metrics.
func checkMetricsPorts(t *testing.T, where string, w workload, ports map[string]int32, outs []section) {
	listen := 0
	for _, o := range outs {
		if l := o.get("metrics_listen"); l != "" {
			listen++
			if _, ok := ports["metrics"]; !ok || l != fmt.Sprintf("0.0.0.0:%d", ports["metrics"]) {
				t.Errorf("%s: metrics_listen %q, want 0.0.0.0 on the port named metrics (%v)", where, l, ports)
			}
		}
	}
	wantPort, wantPath := ports["http"], "/api/v2/metrics/prometheus"
	switch listen {
	case 0:
		if p, ok := ports["metrics"]; ok {
			t.Errorf("%s: a port named metrics (%d) without metrics_listen: nothing listens there; kubeship's metrics are on Fluent Bit's endpoint (port http)", where, p)
		}
	case len(outs):
		wantPort, wantPath = ports["metrics"], "/metrics"
	default:
		t.Errorf("%s: %d of %d kubeship outputs set metrics_listen: all or none", where, listen, len(outs))
	}
	if a := w.pod.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != fmt.Sprint(wantPort) || a["prometheus.io/path"] != wantPath {
		t.Errorf("%s: scrape annotations for port %d, path %s wanted (kubeship's metrics), have %v", where, wantPort, wantPath, a)
	}
}

// The Services and ServiceMonitors of Fluent Bit's pods reach ports the
// pods declare: each Service's named targetPort is a container port of
// the pods it selects, a Service's scrape annotations name a container
// port and scrape no pod its own annotations already scrape there, and
// each ServiceMonitor endpoint is a port of a Service it selects, scraped
// at that port's path (Fluent Bit's endpoint on http, kubeship's /metrics
// on metrics).
func checkMetricsServices(t *testing.T, s set) {
	var services []*corev1.Service
	for _, d := range s.docs {
		if svc, ok := d.obj.(*corev1.Service); ok {
			services = append(services, svc)
		}
	}
	for _, svc := range services {
		where := fmt.Sprintf("%s: Service %s", s.name, svc.Name)
		for _, w := range s.workloads() {
			if w.namespace != svc.Namespace || !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, w.pod.Labels) {
				continue
			}
			named := map[string]int32{}
			for _, c := range w.pod.Spec.Containers {
				for _, p := range c.Ports {
					named[p.Name] = p.ContainerPort
				}
			}
			for _, p := range svc.Spec.Ports {
				if p.TargetPort.Type == intstr.String {
					if _, ok := named[p.TargetPort.StrVal]; !ok {
						t.Errorf("%s: port %s targets %s, which %s %s does not declare", where, p.Name, p.TargetPort.StrVal, w.kind, w.name)
					}
				}
			}
			a := svc.Annotations
			if a["prometheus.io/scrape"] != "true" {
				continue
			}
			if !slices.Contains(slices.Collect(maps.Values(named)), int32(atoi(a["prometheus.io/port"]))) {
				t.Errorf("%s: scrape annotation port %s is no container port of %s %s (%v)", where, a["prometheus.io/port"], w.kind, w.name, named)
			}
			pa := w.pod.Annotations
			if pa["prometheus.io/scrape"] == "true" && pa["prometheus.io/port"] == a["prometheus.io/port"] && pa["prometheus.io/path"] == a["prometheus.io/path"] {
				t.Errorf("%s: scrape annotations for port %s, path %s, as on %s %s's pods: each pod would be scraped twice", where, a["prometheus.io/port"], a["prometheus.io/path"], w.kind, w.name)
			}
		}
	}
	for _, d := range s.docs {
		sm, ok := d.obj.(*monitoringv1.ServiceMonitor)
		if !ok {
			continue
		}
		where := fmt.Sprintf("%s: ServiceMonitor %s", s.name, sm.Name)
		var ports []corev1.ServicePort
		for _, svc := range services {
			if slices.Contains(sm.Spec.NamespaceSelector.MatchNames, svc.Namespace) && selects(&sm.Spec.Selector, svc.Labels) {
				ports = append(ports, svc.Spec.Ports...)
			}
		}
		if len(sm.Spec.Endpoints) == 0 {
			t.Errorf("%s: no endpoints", where)
		}
		for _, e := range sm.Spec.Endpoints {
			i := slices.IndexFunc(ports, func(p corev1.ServicePort) bool { return p.Name == e.Port })
			if i < 0 {
				t.Errorf("%s: endpoint port %q is no port of the Services it selects", where, e.Port)
				continue
			}
			want := map[string]string{"http": "/api/v2/metrics/prometheus", "metrics": "/metrics"}[ports[i].TargetPort.String()]
			if e.Path != want {
				t.Errorf("%s: endpoint port %s (→ %s) scraped at %q, want %q", where, e.Port, ports[i].TargetPort.String(), e.Path, want)
			}
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Fluent Bit's Grace outlasts a flush's retry_budget (and batch_wait), and
// the kubelet waits for the preStop sleep, Grace and a margin before it
// kills: a stop drains what the destination accepts.
func checkTermination(t *testing.T, where string, spec corev1.PodSpec, c corev1.Container, svc section, outs []section) {
	grace, ok := seconds(svc.get("grace"))
	if !ok {
		t.Errorf("%s: [SERVICE] Grace not set (Fluent Bit's default 5s is not sized from retry_budget)", where)
		return
	}
	for _, o := range outs {
		budget, ok := seconds(o.get("retry_budget"))
		if !ok {
			budget = 4 // kubeship's default
		}
		wait, _ := seconds(o.get("batch_wait"))
		if budget+wait >= grace {
			t.Errorf("%s: retry_budget %gs + batch_wait %gs must stay under Grace %gs", where, budget, wait, grace)
		}
		if o.get("retry_limit") != "no_limits" {
			t.Errorf("%s: Retry_Limit %q: want no_limits (storage.total_limit_size bounds the buffer)", where, o.get("retry_limit"))
		}
	}
	sleep := 0.0
	if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		sleep = float64(l.PreStop.Sleep.Seconds)
	} else {
		t.Errorf("%s: no preStop sleep: endpoints still send to a stopping pod", where)
	}
	if tg := spec.TerminationGracePeriodSeconds; tg == nil || float64(*tg) < sleep+grace+2 {
		t.Errorf("%s: terminationGracePeriodSeconds %v: want at least the preStop sleep %gs + Grace %gs + a margin", where, tg, sleep, grace)
	}
}

// The buffer volume holds what every output may keep
// (storage.total_limit_size each), so a full buffer drops the oldest
// chunks instead of getting the pod evicted.
func checkBuffer(t *testing.T, where string, w workload, svc section, outs []section) {
	path := strings.TrimSuffix(svc.get("storage.path"), "/")
	if path == "" {
		t.Errorf("%s: no storage.path", where)
		return
	}
	var need int64
	for _, o := range outs {
		n, ok := bytesOf(o.get("storage.total_limit_size"))
		if !ok {
			t.Errorf("%s: output without storage.total_limit_size: its buffer has no bound", where)
		}
		need += n
	}
	if w.kind == "DaemonSet" {
		return // the node's disk
	}
	var volume, at string
	c := fluentBitContainer(w)
	for _, m := range c.VolumeMounts {
		if mp := strings.TrimSuffix(m.MountPath, "/"); (path == mp || strings.HasPrefix(path, mp+"/")) && len(mp) > len(at) {
			volume, at = m.Name, mp
		}
	}
	if volume == "" {
		t.Errorf("%s: storage.path %s is on no volume (a read-only root filesystem)", where, path)
		return
	}
	var have int64
	for _, v := range w.pod.Spec.Volumes {
		if v.Name == volume && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil {
			have = v.EmptyDir.SizeLimit.Value()
		}
	}
	for _, pvc := range w.claims {
		if pvc.Name == volume {
			have = pvc.Spec.Resources.Requests.Storage().Value()
		}
	}
	if have < need {
		t.Errorf("%s: volume %s holds %d bytes, under the outputs' storage.total_limit_size (%d)", where, volume, have, need)
	}
}

func fluentBitContainer(w workload) corev1.Container {
	for _, c := range w.pod.Spec.Containers {
		if c.Name == "fluent-bit" || c.Name == "kubeship" {
			return c
		}
	}
	return corev1.Container{}
}

// ours are the containers kubeship ships: Fluent Bit (named kubeship as a
// sidecar) and the canary.
var ours = map[string]bool{"fluent-bit": true, "kubeship": true, "loki-canary": true}

var secretKeys = regexp.MustCompile(`(?im)^\s*(apikey|http_passwd|bearer_token|password|tls\.key_passwd)\s+(\S.*)$`)

// No ConfigMap holds a secret: kubeship's secrets are read from files
// mounted from Secrets (apikey_file) or from the environment (${VAR},
// filled from a Secret), never written in a value.
func checkNoSecretInConfigMaps(t *testing.T, s set) {
	for _, d := range s.docs {
		cm, ok := d.obj.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		for k, v := range cm.Data {
			for _, m := range secretKeys.FindAllStringSubmatch(v, -1) {
				if !regexp.MustCompile(`^\$\{[A-Z0-9_]+\}$`).MatchString(strings.TrimSpace(m[2])) {
					t.Errorf("%s: ConfigMap %s, %s: %s holds a value; read it from a Secret", s.name, cm.Name, k, m[1])
				}
			}
		}
	}
}

// An aggregator runs behind a Service whose port reaches the elasticsearch
// input, with a PodDisruptionBudget and, when it autoscales, an HPA that
// scales in one pod at a time after a long window, never under 2.
func checkAggregator(t *testing.T, s set) {
	for _, w := range s.workloads() {
		_, conf, ok := s.fluentBit(w)
		if !ok || w.kind == "DaemonSet" {
			continue
		}
		es := sectionsOf(parseClassic(conf), "INPUT", "elasticsearch")
		if len(es) == 0 {
			continue
		}
		where := fmt.Sprintf("%s: %s %s", s.name, w.kind, w.name)
		if w.pod.Spec.AutomountServiceAccountToken == nil || *w.pod.Spec.AutomountServiceAccountToken {
			t.Errorf("%s: the aggregator calls no Kubernetes API: automountServiceAccountToken false wanted", where)
		}
		var pdb, service bool
		for _, d := range s.docs {
			switch o := d.obj.(type) {
			case *policyv1.PodDisruptionBudget:
				if o.Namespace == w.namespace && selects(o.Spec.Selector, w.pod.Labels) {
					pdb = true
					if o.Spec.MaxUnavailable == nil || o.Spec.MaxUnavailable.IntValue() != 1 {
						t.Errorf("%s: PodDisruptionBudget %s: maxUnavailable 1 wanted", where, o.Name)
					}
				}
			case *corev1.Service:
				if o.Namespace != w.namespace || o.Spec.ClusterIP == "None" || !selects(&metav1.LabelSelector{MatchLabels: o.Spec.Selector}, w.pod.Labels) {
					continue
				}
				for _, p := range o.Spec.Ports {
					if p.Name == "bulk" {
						service = true
						if p.TargetPort.String() != "bulk" || es[0].get("port") != fmt.Sprint(p.Port) {
							t.Errorf("%s: Service %s port %d → %s, elasticsearch input on %s", where, o.Name, p.Port, p.TargetPort.String(), es[0].get("port"))
						}
					}
				}
			case *autoscalingv2.HorizontalPodAutoscaler:
				if o.Spec.ScaleTargetRef.Name != w.name || o.Spec.ScaleTargetRef.Kind != w.kind {
					continue
				}
				if o.Spec.MinReplicas == nil || *o.Spec.MinReplicas < 2 {
					t.Errorf("%s: HPA %s: minReplicas %v, want 2 or more", where, o.Name, o.Spec.MinReplicas)
				}
				b := o.Spec.Behavior
				if b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds < 600 {
					t.Errorf("%s: HPA %s: a scale-down stabilization window of 10 minutes or more wanted", where, o.Name)
				} else {
					for _, p := range b.ScaleDown.Policies {
						if p.Type != autoscalingv2.PodsScalingPolicy || p.Value > 1 {
							t.Errorf("%s: HPA %s: scale-down policy %v: one pod at a time wanted", where, o.Name, p)
						}
					}
				}
			}
		}
		if !pdb {
			t.Errorf("%s: no PodDisruptionBudget selects the aggregator", where)
		}
		if !service {
			t.Errorf("%s: no Service with a bulk port selects the aggregator", where)
		}
	}
}

// RBAC is least privilege: the kubernetes filter gets pods, nothing else.
func checkRBAC(t *testing.T, s set) {
	for _, d := range s.docs {
		switch r := d.obj.(type) {
		case *rbacv1.ClusterRole:
			for _, rule := range r.Rules {
				if strings.Join(rule.APIGroups, ",") != "" || strings.Join(rule.Resources, ",") != "pods" || strings.Join(rule.Verbs, ",") != "get" {
					t.Errorf("%s: ClusterRole %s grants %v on %v %v: the kubernetes filter needs get on pods", s.name, r.Name, rule.Verbs, rule.APIGroups, rule.Resources)
				}
			}
		case *rbacv1.Role:
			t.Errorf("%s: Role %s: nothing needs one", s.name, r.Name)
		}
	}
}

// What the EKS Fargate log router accepts (AWS EKS user guide, Fargate
// logging), and where it sends: the aggregator's Service.
func checkFargateRouter(t *testing.T, s set, cm *corev1.ConfigMap) {
	if cm.Namespace != "aws-observability" {
		t.Errorf("%s: aws-logging in namespace %q, want aws-observability", s.name, cm.Namespace)
	}
	for _, d := range s.docs {
		if ns, ok := d.obj.(*corev1.Namespace); ok && ns.Name == "aws-observability" && ns.Labels["aws-observability"] != "enabled" {
			t.Errorf("%s: namespace aws-observability lacks the label aws-observability: enabled", s.name)
		}
	}
	size := 0
	for k, v := range cm.Data {
		size += len(k) + len(v)
		switch k {
		case "filters.conf", "output.conf", "parsers.conf", "flb_log_cw":
		default:
			t.Errorf("%s: aws-logging key %s is not one Fargate reads", s.name, k)
		}
		if strings.Contains(v, "${") {
			t.Errorf("%s: aws-logging %s uses ${...}: Fargate does not expand variables", s.name, k)
		}
	}
	if size >= 5300 {
		t.Errorf("%s: aws-logging's data is %d characters; Fargate allows under 5300", s.name, size)
	}
	allowed := map[string]map[string]bool{
		"FILTER": {"grep": true, "parser": true, "record_modifier": true, "rewrite_tag": true, "throttle": true, "nest": true, "modify": true, "kubernetes": true},
		"OUTPUT": {"es": true, "firehose": true, "kinesis_firehose": true, "cloudwatch": true, "cloudwatch_logs": true, "kinesis": true},
		"PARSER": nil,
	}
	for key, text := range cm.Data {
		if key == "flb_log_cw" {
			if text != "true" && text != "false" {
				t.Errorf("%s: flb_log_cw %q: want \"true\" or \"false\"", s.name, text)
			}
			continue
		}
		for _, sec := range parseClassic(text) {
			names, ok := allowed[sec.kind]
			if !ok {
				t.Errorf("%s: %s: section [%s] is not allowed on Fargate", s.name, key, sec.kind)
				continue
			}
			if sec.get("name") == "" {
				t.Errorf("%s: %s: [%s] without Name", s.name, key, sec.kind)
			} else if names != nil && !names[strings.ToLower(sec.get("name"))] {
				t.Errorf("%s: %s: [%s] %s is refused by Fargate's admission webhook", s.name, key, sec.kind, sec.get("name"))
			}
		}
	}
	// The es output's Host and Port are the aggregator Service's.
	es := sectionsOf(parseClassic(cm.Data["output.conf"]), "OUTPUT", "es")
	if len(es) != 1 {
		t.Errorf("%s: aws-logging: want one es output, have %d", s.name, len(es))
		return
	}
	host, port := es[0].get("host"), es[0].get("port")
	var names []string
	for _, d := range s.docs {
		svc, ok := d.obj.(*corev1.Service)
		if !ok || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "bulk" && fmt.Sprint(p.Port) == port }) {
			continue
		}
		if svc.Spec.ClusterIP == "None" {
			continue
		}
		name := svc.Name + "." + svc.Namespace + ".svc.cluster.local"
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			name = svc.Annotations["external-dns.alpha.kubernetes.io/hostname"]
		}
		names = append(names, name)
	}
	if !slices.Contains(names, host) {
		t.Errorf("%s: the router sends to %s:%s; the aggregator's Service is %v", s.name, host, port, names)
	}
	if !strings.EqualFold(es[0].get("retry_limit"), "False") {
		t.Errorf("%s: the router's es output: Retry_Limit False wanted, so it retries while no aggregator is ready", s.name)
	}
	for _, k := range []string{"include_tag_key", "time_key_nanos", "suppress_type_name"} {
		if !strings.EqualFold(es[0].get(k), "On") {
			t.Errorf("%s: the router's es output: %s On wanted", s.name, k)
		}
	}
	if es[0].get("tag_key") != "flb_tag" {
		t.Errorf("%s: the router's es output: Tag_Key flb_tag wanted (the aggregator's elasticsearch input reads it)", s.name)
	}
}

// Every file under conf/k8s decodes strictly and passes the policy.
func TestShippedManifests(t *testing.T) {
	for _, s := range files(t) {
		t.Run(s.name, func(t *testing.T) {
			if len(s.docs) == 0 {
				t.Fatal("no objects")
			}
			checkSet(t, s)
		})
	}
}
