// Package fargate writes what the EKS Fargate log router reads: container
// log files of CRI lines named as on a Fargate node, and the Pod objects the
// kubernetes filter loads from Kube_Meta_Preload_Cache_Dir instead of asking
// an API server. Tests, the demo and benchmarks run a real Fluent Bit over them.
package fargate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Pod is one pod with one container, as the kubernetes filter describes it.
type Pod struct {
	Namespace, Name, Container string
	UID, ContainerID           string // ContainerID: 64 hex digits
	Image, Node                string
	Labels, Annotations        map[string]string
}

// Pods returns a deterministic set of pods across namespaces, owned the
// ways Kubernetes owns pods (Deployment, StatefulSet, Job of a CronJob),
// with the labels and annotations Datadog and Grafana tooling read.
func Pods() []Pod {
	id := func(seed byte) string { return strings.Repeat(fmt.Sprintf("%02x", seed), 32) }
	return []Pod{{
		Namespace: "shop", Name: "checkout-7d9f8c6b5-x2k4p", Container: "checkout",
		UID: "5b3a7c1e-0f3c-4a9b-8d7e-6f5a4b3c2d10", ContainerID: id(0x0c),
		Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/checkout:1.4.2", Node: "fargate-ip-10-0-1-23.ec2.internal",
		Labels: map[string]string{
			"app.kubernetes.io/name": "checkout", "app.kubernetes.io/version": "1.4.2", "pod-template-hash": "7d9f8c6b5",
			"tags.datadoghq.com/env": "prod", "tags.datadoghq.com/service": "checkout", "tags.datadoghq.com/version": "1.4.2",
			"eks.amazonaws.com/fargate-profile": "fp-shop",
		},
		Annotations: map[string]string{"CapacityProvisioned": "0.25vCPU 0.5GB"},
	}, {
		Namespace: "shop", Name: "web-5f7b9c6d8-q9r2s", Container: "nginx",
		UID: "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", ContainerID: id(0x3e),
		Image: "public.ecr.aws/nginx/nginx:1.27", Node: "fargate-ip-10-0-2-45.ec2.internal",
		Labels:      map[string]string{"app": "web", "pod-template-hash": "5f7b9c6d8", "team": "storefront"},
		Annotations: map[string]string{"ad.datadoghq.com/nginx.logs": `[{"source":"nginx","service":"storefront-web"}]`},
	}, {
		Namespace: "payments", Name: "ledger-0", Container: "ledger",
		UID: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", ContainerID: id(0x1e),
		Image: "registry.example.com/payments/ledger@sha256:" + id(0x77), Node: "fargate-ip-10-0-3-67.ec2.internal",
		Labels: map[string]string{"app.kubernetes.io/name": "ledger", "statefulset.kubernetes.io/pod-name": "ledger-0",
			"controller-revision-hash": "ledger-6c9f8b7d5"},
	}, {
		Namespace: "batch", Name: "report-28765432-abcde", Container: "report",
		UID: "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", ContainerID: id(0x9b),
		Image: "busybox", Node: "fargate-ip-10-0-4-89.ec2.internal",
		Labels: map[string]string{"batch.kubernetes.io/job-name": "report-28765432", "job-name": "report-28765432"},
	}}
}

// AnnotatedPod is a pod written for the Datadog Agent in every form
// kubeship honours: per-container unified service tags over the pod's,
// tag annotations for the pod and the container, and log processing rules
// (one broken). Its Lines exercise each rule and trace context.
func AnnotatedPod() Pod {
	return Pod{
		Namespace: "shop", Name: "cart-6b8d9f7c5-k7m2n", Container: "cart",
		UID: "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", ContainerID: strings.Repeat("ca", 32),
		Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/cart:2.0.1", Node: "fargate-ip-10-0-5-12.ec2.internal",
		Labels: map[string]string{
			"app.kubernetes.io/name": "cart", "pod-template-hash": "6b8d9f7c5",
			"tags.datadoghq.com/env": "prod", "tags.datadoghq.com/service": "cart", "tags.datadoghq.com/version": "2.0.0",
			"tags.datadoghq.com/cart.version": "2.0.1",
		},
		Annotations: map[string]string{
			"ad.datadoghq.com/tags":      `{"team":"checkout","tier":["web","critical"]}`,
			"ad.datadoghq.com/cart.tags": `["cost-center:cc-42"]`,
			"ad.datadoghq.com/cart.logs": `[{"source":"java","service":"cart-api","log_processing_rules":[
				{"type":"exclude_at_match","name":"no_health","pattern":"GET /healthz"},
				{"type":"mask_sequences","name":"tokens","pattern":"token=\\w+","replace_placeholder":"token=[masked]"},
				{"type":"include_at_match","name":"broken","pattern":"(unclosed"}]}]`,
		},
	}
}

// AnnotatedLines are AnnotatedPod's lines: a health check its rules
// exclude, a secret they mask, and a JSON line with OpenTelemetry ids.
var AnnotatedLines = []string{
	"GET /healthz 200",
	"login ok for user 42 token=s3cr3tT0ken",
	`{"msg":"cart updated","level":"info","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}`,
}

// Tag is the tag the router's `tail` input (Tag kube.*) gives the pod's records.
func (p Pod) Tag() string { return "kube.var.log.containers." + p.LogFile() }

// LogFile is the file name under /var/log/containers.
func (p Pod) LogFile() string {
	return fmt.Sprintf("%s_%s_%s-%s.log", p.Name, p.Namespace, p.Container, p.ContainerID)
}

// Line is one line an application wrote.
type Line struct {
	Time   time.Time
	Stream string // stdout or stderr
	Text   string
}

// MaxCRILine is where the container runtime splits a long line into partial
// (P) lines followed by a final (F) one: containerd's 16 KiB buffer.
const MaxCRILine = 16 << 10

// AppendCRI appends l in the CRI log format, split as containerd splits it.
func AppendCRI(dst []byte, l Line) []byte {
	ts := l.Time.UTC().Format("2006-01-02T15:04:05.000000000Z")
	text := l.Text
	for len(text) > MaxCRILine {
		dst = fmt.Appendf(dst, "%s %s P %s\n", ts, l.Stream, text[:MaxCRILine])
		text = text[MaxCRILine:]
	}
	return fmt.Appendf(dst, "%s %s F %s\n", ts, l.Stream, text)
}

// WriteLogs appends lines to p's log file in dir.
func WriteLogs(dir string, p Pod, lines []Line) error {
	var b []byte
	for _, l := range lines {
		b = AppendCRI(b, l)
	}
	f, err := os.OpenFile(filepath.Join(dir, p.LogFile()), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteMeta writes each pod's object as the kubernetes filter's preload
// cache expects it: <dir>/<namespace>_<pod>.meta.
func WriteMeta(dir string, pods []Pod) error {
	for _, p := range pods {
		obj := map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{
				"name": p.Name, "namespace": p.Namespace, "uid": p.UID,
				"labels": p.Labels, "annotations": p.Annotations,
			},
			"spec": map[string]any{
				"nodeName":   p.Node,
				"containers": []any{map[string]any{"name": p.Container, "image": p.Image}},
			},
			"status": map[string]any{
				"containerStatuses": []any{map[string]any{
					"name": p.Container, "image": p.Image,
					"imageID":     p.Image + "@sha256:" + p.ContainerID,
					"containerID": "containerd://" + p.ContainerID,
				}},
			},
		}
		b, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, p.Namespace+"_"+p.Name+".meta"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TailInput is the router's fixed [INPUT] section (no parser: that is a
// filter in aws-logging), reading dir's files as it reads
// /var/log/containers, with the same tags (via Tag_Regex, since the files
// are elsewhere).
func TailInput(dir string) string {
	return fmt.Sprintf(`[INPUT]
    Name              tail
    Path              %s/*.log
    Tag_Regex         ^.*/(?<pod_name>[a-z0-9][-a-z0-9.]*)_(?<namespace_name>[^_]+)_(?<container_name>.+)-(?<docker_id>[a-z0-9]{64})\.log$
    Tag               kube.var.log.containers.<pod_name>_<namespace_name>_<container_name>-<docker_id>.log
    Read_From_Head    On
    Refresh_Interval  1
    Buffer_Max_Size   66KB
    Mem_Buf_Limit     45MB
    Skip_Long_Lines   On
`, dir)
}

// Router is the aws-logging ConfigMap's Fluent Bit sections.
type Router struct {
	Parsers, Filters, Output string
}

// ReadRouter reads the data keys of the aws-logging ConfigMap in path
// (the aws-logging ConfigMap of conf/k8s/fargate-loki.yaml, the chart's
// rendering), so tests run the configuration users apply.
func ReadRouter(path string) (Router, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Router{}, err
	}
	block := func(key string) (string, error) {
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			if strings.TrimSpace(l) != key+": |" {
				continue
			}
			indent := len(l) - len(strings.TrimLeft(l, " ")) + 2
			var out []string
			for _, m := range lines[i+1:] {
				if strings.TrimSpace(m) != "" && len(m)-len(strings.TrimLeft(m, " ")) < indent {
					break
				}
				out = append(out, strings.TrimPrefix(m, strings.Repeat(" ", indent)))
			}
			return strings.Join(out, "\n") + "\n", nil
		}
		return "", fmt.Errorf("%s: no %q block", path, key)
	}
	var r Router
	if r.Parsers, err = block("parsers.conf"); err != nil {
		return r, err
	}
	if r.Filters, err = block("filters.conf"); err != nil {
		return r, err
	}
	r.Output, err = block("output.conf")
	return r, err
}

// OfflineKubernetes points the kubernetes filter in filters at a preload
// cache directory, and its API server URL at a closed port, so it never
// waits for an API server. It panics when filters has no kubernetes filter.
func OfflineKubernetes(filters, metaDir string) string {
	lines := strings.Split(filters, "\n")
	for i, l := range lines {
		if hasName(l, "kubernetes") {
			extra := []string{"    Kube_URL http://127.0.0.1:1", "    Kube_Meta_Preload_Cache_Dir " + metaDir}
			return strings.Join(slices.Insert(lines, i+1, extra...), "\n")
		}
	}
	panic("fargate: no kubernetes filter in:\n" + filters)
}

// DropFilter removes the [FILTER] sections named name from filters.
func DropFilter(filters, name string) string {
	var out []string
	for i, sec := range strings.Split(filters, "[FILTER]") {
		if i > 0 && hasName(sec, name) {
			continue
		}
		if i > 0 {
			sec = "[FILTER]" + sec
		}
		out = append(out, sec)
	}
	return strings.Join(out, "")
}

func hasName(section, name string) bool {
	for _, l := range strings.Split(section, "\n") {
		if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], "name") && f[1] == name {
			return true
		}
	}
	return false
}

// Record is the body the router's pipeline makes of l (CRI parser, then
// the kubernetes filter with Labels and Annotations on), for drivers that
// hand chunks to the plugin without a Fluent Bit.
func Record(p Pod, l Line) map[string]any {
	labels, annotations := map[string]any{}, map[string]any{}
	for k, v := range p.Labels {
		labels[k] = v
	}
	for k, v := range p.Annotations {
		annotations[k] = v
	}
	return map[string]any{
		"stream": l.Stream,
		"logtag": "F",
		"log":    l.Text,
		"kubernetes": map[string]any{
			"pod_name": p.Name, "namespace_name": p.Namespace, "pod_id": p.UID,
			"labels": labels, "annotations": annotations, "host": p.Node,
			"container_name": p.Container, "docker_id": p.ContainerID,
			"container_hash": p.Image + "@sha256:" + p.ContainerID, "container_image": p.Image,
		},
	}
}
