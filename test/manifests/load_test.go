package manifests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// SecurityGroupPolicy is the AWS VPC resource controller's CRD
// (vpcresources.k8s.aws/v1beta1, apis/vpcresources/v1beta1 of
// aws/amazon-vpc-resource-controller-k8s), whose module brings a controller
// with it: its fields, copied, so a misspelt one still fails.
type SecurityGroupPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		PodSelector            *metav1.LabelSelector `json:"podSelector,omitempty"`
		ServiceAccountSelector *metav1.LabelSelector `json:"serviceAccountSelector,omitempty"`
		SecurityGroups         struct {
			Groupids []string `json:"groupIds,omitempty"`
		} `json:"securityGroups,omitempty"`
	} `json:"spec,omitempty"`
}

// objects maps apiVersion/kind to a new object of its type.
var objects = map[string]func() any{
	"v1/Namespace":                                     func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                                     func() any { return &corev1.ConfigMap{} },
	"v1/ServiceAccount":                                func() any { return &corev1.ServiceAccount{} },
	"v1/Service":                                       func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                               func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                              func() any { return &appsv1.StatefulSet{} },
	"apps/v1/DaemonSet":                                func() any { return &appsv1.DaemonSet{} },
	"policy/v1/PodDisruptionBudget":                    func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":           func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"monitoring.coreos.com/v1/ServiceMonitor":          func() any { return &monitoringv1.ServiceMonitor{} },
	"vpcresources.k8s.aws/v1beta1/SecurityGroupPolicy": func() any { return &SecurityGroupPolicy{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":         func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding":  func() any { return &rbacv1.ClusterRoleBinding{} },
	"rbac.authorization.k8s.io/v1/Role":                func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding":         func() any { return &rbacv1.RoleBinding{} },
}

// doc is one object of a manifest file or a rendering.
type doc struct {
	file   string // the file (or rendering) it came from
	source string // helm's "# Source:" template, when rendered
	obj    any
}

// A set is the objects one `kubectl apply -f` or `helm install` makes.
type set struct {
	name string
	docs []doc
}

var sourceLine = regexp.MustCompile(`(?m)^# Source: (\S+)`)

// decode splits a multi-document YAML stream and decodes every document
// strictly (an unknown or misspelt field fails) into its API type.
func decode(name string, data []byte) ([]doc, error) {
	var docs []doc
	var errs []string
	for i, part := range splitDocuments(data) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(part, &head); err != nil {
			return nil, fmt.Errorf("%s document %d: %v", name, i, err)
		}
		if head.APIVersion == "" && head.Kind == "" {
			continue // comments only
		}
		newObj, ok := objects[head.APIVersion+"/"+head.Kind]
		if !ok {
			return nil, fmt.Errorf("%s document %d: unexpected %s %s", name, i, head.APIVersion, head.Kind)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict(part, obj); err != nil {
			errs = append(errs, fmt.Sprintf("%s document %d (%s): %v", name, i, head.Kind, err))
			continue
		}
		src := ""
		if m := sourceLine.FindSubmatch(part); m != nil {
			src = string(m[1])
		}
		docs = append(docs, doc{file: name, source: src, obj: obj})
	}
	if len(errs) > 0 {
		return docs, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return docs, nil
}

// splitDocuments splits at lines that are exactly "---".
func splitDocuments(data []byte) [][]byte {
	var parts [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if string(bytes.TrimRight(line, "\r\n")) == "---" {
			parts = append(parts, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(parts, cur.Bytes())
}

// files returns conf/k8s's manifests, each a set.
func files(t *testing.T) []set {
	t.Helper()
	paths, err := filepath.Glob("../../conf/k8s/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests under conf/k8s (%v)", err)
	}
	var sets []set
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := decode(filepath.Base(p), data)
		if err != nil {
			t.Error(err)
		}
		sets = append(sets, set{name: filepath.Base(p), docs: docs})
	}
	return sets
}

// kinds counts a set's objects by Go type, e.g. "*v1.Deployment".
func (s set) kinds() map[string]int {
	m := map[string]int{}
	for _, d := range s.docs {
		m[fmt.Sprintf("%T", d.obj)]++
	}
	return m
}

// list describes a set's objects one a line, kind/namespace/name, sorted.
func (s set) list() []string {
	var out []string
	for _, d := range s.docs {
		m, ok := d.obj.(metav1.Object)
		if !ok {
			continue
		}
		kind := strings.TrimPrefix(fmt.Sprintf("%T", d.obj), "*")
		kind = kind[strings.Index(kind, ".")+1:]
		name := m.GetName()
		if ns := m.GetNamespace(); ns != "" {
			name = ns + "/" + name
		}
		out = append(out, kind+" "+name)
	}
	sort.Strings(out)
	return out
}

// configMap returns the ConfigMap of that name in the set, or nil.
func (s set) configMap(name string) *corev1.ConfigMap {
	for _, d := range s.docs {
		if cm, ok := d.obj.(*corev1.ConfigMap); ok && cm.Name == name {
			return cm
		}
	}
	return nil
}
