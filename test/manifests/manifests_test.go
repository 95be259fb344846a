// Package manifests checks the Kubernetes manifests under conf/k8s: every
// document decodes strictly (unknown or misspelled fields fail) into its
// Kubernetes API type, and the Fargate router's aws-logging ConfigMap keeps
// to what Fargate accepts.
package manifests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// objects maps apiVersion/kind to a new object of its type.
var objects = map[string]func() any{
	"v1/Namespace":       func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":       func() any { return &corev1.ConfigMap{} },
	"v1/ServiceAccount":  func() any { return &corev1.ServiceAccount{} },
	"v1/Service":         func() any { return &corev1.Service{} },
	"apps/v1/Deployment": func() any { return &appsv1.Deployment{} },
	"apps/v1/DaemonSet":  func() any { return &appsv1.DaemonSet{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	"rbac.authorization.k8s.io/v1/Role":               func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding":        func() any { return &rbacv1.RoleBinding{} },
}

type doc struct {
	file string
	obj  any
}

func load(t *testing.T) []doc {
	t.Helper()
	files, err := filepath.Glob("../../conf/k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under conf/k8s (%v)", err)
	}
	var docs []doc
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, part := range bytes.Split(data, []byte("\n---\n")) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(part, &head); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			newObj, ok := objects[head.APIVersion+"/"+head.Kind]
			if !ok {
				t.Fatalf("%s document %d: unexpected %s %s", f, i, head.APIVersion, head.Kind)
			}
			obj := newObj()
			if err := yaml.UnmarshalStrict(part, obj); err != nil {
				t.Errorf("%s document %d (%s): %v", f, i, head.Kind, err)
				continue
			}
			docs = append(docs, doc{filepath.Base(f), obj})
		}
	}
	return docs
}

func TestManifestsDecodeStrictly(t *testing.T) {
	docs := load(t)
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[fmt.Sprintf("%s:%T", d.file, d.obj)]++
	}
	for _, want := range []string{
		"aggregator.yaml:*v1.Deployment", "aggregator.yaml:*v1.Service", "aggregator.yaml:*v1.ServiceAccount", "aggregator.yaml:*v1.ConfigMap",
		"sidecar.yaml:*v1.Deployment", "daemonset.yaml:*v1.DaemonSet", "daemonset.yaml:*v1.ClusterRole", "aws-logging.yaml:*v1.ConfigMap",
	} {
		if kinds[want] == 0 {
			t.Errorf("missing %s (have %v)", want, kinds)
		}
	}
}

// Workloads reference what the manifests define: service accounts, config
// maps and volumes; selectors match their pod labels.
func TestReferencesResolve(t *testing.T) {
	docs := load(t)
	have := map[string]bool{}
	for _, d := range docs {
		switch o := d.obj.(type) {
		case *corev1.ServiceAccount:
			have["sa/"+o.Namespace+"/"+o.Name] = true
		case *corev1.ConfigMap:
			have["cm/"+o.Namespace+"/"+o.Name] = true
		}
	}
	check := func(file, ns string, spec corev1.PodSpec, selector map[string]string, labels map[string]string) {
		if !have["sa/"+ns+"/"+spec.ServiceAccountName] {
			t.Errorf("%s: service account %s/%s not defined", file, ns, spec.ServiceAccountName)
		}
		vols := map[string]bool{}
		for _, v := range spec.Volumes {
			vols[v.Name] = true
			if v.ConfigMap != nil && !have["cm/"+ns+"/"+v.ConfigMap.Name] {
				t.Errorf("%s: config map %s/%s not defined", file, ns, v.ConfigMap.Name)
			}
		}
		for _, c := range spec.Containers {
			for _, m := range c.VolumeMounts {
				if !vols[m.Name] {
					t.Errorf("%s: container %s mounts undefined volume %s", file, c.Name, m.Name)
				}
			}
		}
		for k, v := range selector {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod template", file, k, v)
			}
		}
	}
	for _, d := range docs {
		switch o := d.obj.(type) {
		case *appsv1.Deployment:
			check(d.file, o.Namespace, o.Spec.Template.Spec, o.Spec.Selector.MatchLabels, o.Spec.Template.Labels)
		case *appsv1.DaemonSet:
			check(d.file, o.Namespace, o.Spec.Template.Spec, o.Spec.Selector.MatchLabels, o.Spec.Template.Labels)
		}
	}
}

// RBAC is least privilege: read-only access to pods, nothing else.
func TestRBACIsReadOnly(t *testing.T) {
	for _, d := range load(t) {
		if r, ok := d.obj.(*rbacv1.ClusterRole); ok {
			for _, rule := range r.Rules {
				if strings.Join(rule.Resources, ",") != "pods" || strings.Join(rule.Verbs, ",") != "get,list,watch" {
					t.Errorf("%s: %s grants %v on %v", d.file, r.Name, rule.Verbs, rule.Resources)
				}
			}
		}
	}
}

// What the EKS Fargate log router accepts (AWS EKS user guide, Fargate logging).
func TestAWSLoggingConfigMapFitsFargate(t *testing.T) {
	var cm *corev1.ConfigMap
	var ns *corev1.Namespace
	for _, d := range load(t) {
		switch o := d.obj.(type) {
		case *corev1.ConfigMap:
			if o.Name == "aws-logging" {
				cm = o
			}
		case *corev1.Namespace:
			if o.Name == "aws-observability" {
				ns = o
			}
		}
	}
	if cm == nil || ns == nil {
		t.Fatal("aws-logging ConfigMap or aws-observability Namespace missing")
	}
	if cm.Namespace != "aws-observability" || ns.Labels["aws-observability"] != "enabled" {
		t.Errorf("namespace %q, label %q", cm.Namespace, ns.Labels["aws-observability"])
	}
	size := 0
	for k, v := range cm.Data {
		size += len(k) + len(v)
		switch k {
		case "filters.conf", "output.conf", "parsers.conf", "flb_log_cw":
		default:
			t.Errorf("key %s is not one Fargate reads", k)
		}
		if strings.Contains(v, "${") {
			t.Errorf("%s uses ${...}: Fargate does not expand variables", k)
		}
	}
	if size >= 5300 {
		t.Errorf("ConfigMap data is %d characters; Fargate allows under 5300", size)
	}
	allowed := map[string]map[string]bool{
		"FILTER": {"grep": true, "parser": true, "record_modifier": true, "rewrite_tag": true, "throttle": true, "nest": true, "modify": true, "kubernetes": true},
		"OUTPUT": {"es": true, "firehose": true, "kinesis_firehose": true, "cloudwatch": true, "cloudwatch_logs": true, "kinesis": true},
		"PARSER": nil,
	}
	section := regexp.MustCompile(`(?m)^\s*\[(\w+)\]`)
	name := regexp.MustCompile(`(?mi)^\s*Name\s+(\S+)`)
	for key, text := range cm.Data {
		for _, block := range section.FindAllStringSubmatchIndex(text, -1) {
			kind := text[block[2]:block[3]]
			names, ok := allowed[kind]
			if !ok {
				t.Errorf("%s: section [%s] is not allowed on Fargate", key, kind)
				continue
			}
			rest := text[block[1]:]
			if next := section.FindStringIndex(rest); next != nil {
				rest = rest[:next[0]]
			}
			m := name.FindStringSubmatch(rest)
			if m == nil {
				t.Errorf("%s: [%s] without Name", key, kind)
			} else if names != nil && !names[strings.ToLower(m[1])] {
				t.Errorf("%s: [%s] %s is refused by Fargate's admission webhook", key, kind, m[1])
			}
		}
	}
}
