package kube

import "strings"

// DefaultTagPrefix is what the tail input's `Tag kube.*` puts before the
// file name /var/log/containers/<pod>_<namespace>_<container>-<id>.log
// (slashes become dots), as the kubernetes filter's Kube_Tag_Prefix.
const DefaultTagPrefix = "kube.var.log.containers."

// FromTag reads namespace, pod, container and container id from a tag such
// as kube.var.log.containers.<pod>_<namespace>_<container>-<64 hex>.log.
// ok is false when the tag does not have that shape.
func FromTag(tag, prefix string) (m Meta, ok bool) {
	name, ok := strings.CutPrefix(tag, prefix)
	if !ok {
		return Meta{}, false
	}
	name, ok = strings.CutSuffix(name, ".log")
	if !ok {
		return Meta{}, false
	}
	// Pod names are DNS subdomains and namespaces DNS labels: neither holds
	// '_', so the first two '_' split the name; the container id is the
	// 64 hex digits after the last '-'.
	pod, rest, ok1 := strings.Cut(name, "_")
	ns, rest, ok2 := strings.Cut(rest, "_")
	dash := strings.LastIndexByte(rest, '-')
	if !ok1 || !ok2 || pod == "" || ns == "" || dash <= 0 || !isHex64(rest[dash+1:]) {
		return Meta{}, false
	}
	return Meta{
		Pod:         []byte(pod),
		Namespace:   []byte(ns),
		Container:   []byte(rest[:dash]),
		ContainerID: []byte(rest[dash+1:]),
	}, true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Fill completes m with the fields of t that m lacks: the kubernetes
// filter's map wins, the tag (FromTag) fills the rest, so records are
// labelled even when the filter is absent or its API lookup failed.
func (m *Meta) Fill(t Meta) {
	// Plain ifs: a loop over field pointers made every Meta escape to the heap.
	if len(m.Namespace) == 0 {
		m.Namespace = t.Namespace
	}
	if len(m.Pod) == 0 {
		m.Pod = t.Pod
	}
	if len(m.Container) == 0 {
		m.Container = t.Container
	}
	if len(m.ContainerID) == 0 {
		m.ContainerID = t.ContainerID
	}
}
