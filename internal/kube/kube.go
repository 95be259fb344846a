// Package kube reads the metadata the kubernetes filter adds to a record
// (its `kubernetes` map), without decoding the record.
package kube

import "github.com/kubeship/kubeship/internal/record"

// Meta is a record's Kubernetes metadata. The slices alias the record.
type Meta struct {
	Namespace   []byte
	Pod         []byte
	PodID       []byte
	Container   []byte
	ContainerID []byte
	Node        []byte
	Image       []byte
	ImageID     []byte // container_hash: <image>@sha256:<digest>
	Labels      []byte // raw msgpack map, nil when absent
	Annotations []byte // raw msgpack map, nil when absent
}

// FromMap reads the kubernetes filter's map (raw msgpack). Of a key the map
// holds twice, the last copy wins, as in Fluent Bit's record accessor.
func FromMap(k []byte) (m Meta) {
	_ = record.Each(k, func(key, val []byte) bool {
		switch string(key) {
		case "namespace_name":
			m.Namespace, _ = record.Text(val)
		case "pod_name":
			m.Pod, _ = record.Text(val)
		case "pod_id":
			m.PodID, _ = record.Text(val)
		case "container_name":
			m.Container, _ = record.Text(val)
		case "docker_id":
			m.ContainerID, _ = record.Text(val)
		case "host":
			m.Node, _ = record.Text(val)
		case "container_image":
			m.Image, _ = record.Text(val)
		case "container_hash":
			m.ImageID, _ = record.Text(val)
		case "labels":
			m.Labels = val
		case "annotations":
			m.Annotations = val
		}
		return true
	})
	return m
}

// Label returns the value of a pod label: of a name the map holds twice,
// the last copy, as Fluent Bit's record accessor reads it, so a label here
// is the one $kubernetes['labels'][name] gives.
func (m Meta) Label(name string) ([]byte, bool) {
	if m.Labels == nil {
		return nil, false
	}
	v, ok := record.GetLast(m.Labels, name)
	if !ok {
		return nil, false
	}
	return record.Text(v)
}

// App is the application name Grafana's Kubernetes tooling uses: the
// app.kubernetes.io/name label, else the app label.
func (m Meta) App() []byte {
	if v, ok := m.Label("app.kubernetes.io/name"); ok && len(v) > 0 {
		return v
	}
	v, _ := m.Label("app")
	return v
}

// ContainerID returns the docker_id of a kubernetes filter's map (raw
// msgpack): the container's id, whatever its runtime. It is nil when the
// map has none. The last copy is read, as FromMap and Fluent Bit's record
// accessor read it.
func ContainerID(k []byte) []byte {
	v, _ := record.GetLast(k, "docker_id")
	id, _ := record.Text(v)
	return id
}
