package datadog

import (
	"bytes"
	"slices"
	"unicode/utf8"

	"github.com/kubeship/kubeship/internal/kube"
	"github.com/kubeship/kubeship/internal/record"
)

// podLabels are the pod labels the Agent's tags derive from, read in one
// walk of the labels map.
type podLabels struct {
	templateHash []byte // pod-template-hash: set by a Deployment's ReplicaSet
	statefulSet  bool   // statefulset.kubernetes.io/pod-name or apps.kubernetes.io/pod-index
	revisionHash bool   // controller-revision-hash: StatefulSet and DaemonSet pods
	generation   bool   // pod-template-generation: DaemonSet pods only
	job          []byte // batch.kubernetes.io/job-name
	legacyJob    []byte // job-name, before Kubernetes 1.27
	app          [len(appLabels)][]byte
	legacyApp    []byte // app
	unified      [len(unifiedTags)][]byte
}

// appLabels are the recommended app.kubernetes.io labels and the tags the
// Agent makes of them.
var appLabels = [...]struct{ label, tag string }{
	{"app.kubernetes.io/name", "kube_app_name"},
	{"app.kubernetes.io/instance", "kube_app_instance"},
	{"app.kubernetes.io/version", "kube_app_version"},
	{"app.kubernetes.io/component", "kube_app_component"},
	{"app.kubernetes.io/part-of", "kube_app_part_of"},
	{"app.kubernetes.io/managed-by", "kube_app_managed_by"},
}

// unifiedTags are Datadog's unified service tags, set by the pod's labels
// tags.datadoghq.com/<tag>. A container's own,
// tags.datadoghq.com/<container>.<tag>, win over them, as with the Agent.
var unifiedTags = [...]string{"env", "service", "version"}

const unifiedPrefix = "tags.datadoghq.com/"

const unifiedService = 1 // index of service in unifiedTags

// readLabels walks the labels map once; asTags receives the values of the
// pod_labels_as_tags labels, in the order of e.labelsAsTags.
func (e *Encoder) readLabels(labels, container []byte, asTags [][]byte) (l podLabels) {
	if labels == nil {
		return l
	}
	var own [len(unifiedTags)][]byte // the container's unified labels

	_ = record.Each(labels, func(k, v []byte) bool {
		t, ok := record.Text(v)
		if !ok {
			return true
		}
		switch string(k) {
		case "pod-template-hash":
			l.templateHash = t
		case "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index":
			l.statefulSet = true
		case "controller-revision-hash":
			l.revisionHash = true
		case "pod-template-generation":
			l.generation = true
		case "batch.kubernetes.io/job-name":
			l.job = t
		case "job-name":
			l.legacyJob = t
		case "app":
			l.legacyApp = t
		default:
			for i, a := range appLabels {
				if string(k) == a.label {
					l.app[i] = t
				}
			}
			if i, ownLabel := unifiedLabel(k, container); ownLabel {
				own[i] = t
			} else if i >= 0 {
				l.unified[i] = t
			}
		}
		// pod_labels_as_tags may name any label, the ones above included.
		for i, lt := range e.labelsAsTags {
			if string(k) == lt.label {
				asTags[i] = t
			}
		}
		return true
	})
	if len(l.job) == 0 {
		l.job = l.legacyJob
	}
	for i, v := range own {
		if v != nil {
			l.unified[i] = v
		}
	}
	return l
}

// unifiedLabel reads a unified service tagging label: the index of its tag
// in unifiedTags (-1 for any other label), and whether it is the
// container's own, tags.datadoghq.com/<container>.<tag>, rather than the
// pod's, tags.datadoghq.com/<tag>.
func unifiedLabel(k, container []byte) (i int, own bool) {
	rest, ok := bytes.CutPrefix(k, []byte(unifiedPrefix))
	if !ok {
		return -1, false
	}
	// Container names are DNS labels: the first '.' ends the name.
	if c, tag, found := bytes.Cut(rest, []byte{'.'}); found {
		if len(container) == 0 || !bytes.Equal(c, container) {
			return -1, false
		}
		rest, own = tag, true
	}
	for i, tag := range unifiedTags {
		if string(rest) == tag {
			return i, own
		}
	}
	return -1, false
}

// addKubeTags appends the tags the Datadog Agent sets on a Kubernetes
// container's logs, in a fixed order.
func (e *Encoder) addKubeTags(tl *tagList, m kube.Meta, l *podLabels, img *image, asTags [][]byte) {
	tl.add("kube_namespace", m.Namespace)
	tl.add("pod_name", m.Pod)
	tl.add("kube_container_name", m.Container)
	tl.add("container_id", m.ContainerID)
	// The Agent names containerd containers by their Kubernetes name.
	tl.add("container_name", m.Container)
	if len(m.Container) > 0 && len(m.Pod) > 0 {
		tl.add("display_container_name", m.Container, underscore, m.Pod)
	}
	tl.add("image_name", img.name)
	tl.add("short_image", img.short)
	tl.add("image_tag", img.tag)
	tl.add("docker_image", m.Image)
	tl.add("image_id", imageID(m.ImageID))
	// Fargate names each pod's node fargate-<ip>.<region>.compute.internal.
	if bytes.HasPrefix(m.Node, []byte("fargate-")) {
		tl.add("eks_fargate_node", m.Node)
	}

	// Ownership. The kubernetes filter has no owner references, but each
	// controller names its pods and labels them in a documented way, so
	// the owner can be read from the pod name and labels. A rule applies
	// only when the name has the expected shape: no tag beats a wrong tag.
	// These tags say where they come from: the pod's labels and name,
	// which the pod's owner writes (the Agent reads the owner references,
	// which it does not). A pod can claim to be another Deployment or Job
	// of its own namespace; kube_namespace and kube_cluster_name above are
	// the filter's and the options', which no label reaches.
	o := owner(m.Pod, l)
	if o.kind != "" {
		tl.add("kube_ownerref_kind", []byte(o.kind))
		tl.add("kube_ownerref_name", o.name)
	}
	tl.add("kube_replica_set", o.replicaSet)
	tl.add("kube_deployment", o.deployment)
	tl.add("kube_stateful_set", o.statefulSet)
	tl.add("kube_daemon_set", o.daemonSet)
	tl.add("kube_job", o.job)
	tl.add("kube_cronjob", o.cronJob)

	for i, a := range appLabels {
		tl.add(a.tag, l.app[i])
	}
	for i, tag := range unifiedTags {
		tl.add(tag, l.unified[i])
	}
	for i, lt := range e.labelsAsTags {
		tl.addN(lt.tag, lt.chars, asTags[i])
	}
}

type ownership struct {
	kind                                 string // as the Agent writes kube_ownerref_kind
	name                                 []byte
	replicaSet, deployment               []byte
	statefulSet, daemonSet, job, cronJob []byte
}

// owner derives a pod's controller from its name and labels.
func owner(pod []byte, l *podLabels) (o ownership) {
	switch {
	case len(l.job) > 0:
		// Job pods carry the job's name as a label (batch.kubernetes.io/
		// job-name, job-name before 1.27). A CronJob names its jobs
		// <cronjob>-<scheduled time in minutes since the epoch>: 8 digits
		// today, more from 2160 on.
		o.kind, o.name, o.job = "job", l.job, l.job
		if i := bytes.LastIndexByte(l.job, '-'); i > 0 && len(l.job)-i-1 >= 8 && digits(l.job[i+1:]) {
			o.cronJob = l.job[:i]
		}
	case l.statefulSet:
		// StatefulSet pods are <statefulset>-<ordinal> and labelled with
		// their own name (statefulset.kubernetes.io/pod-name) or, from 1.28,
		// their ordinal (apps.kubernetes.io/pod-index).
		if i := bytes.LastIndexByte(pod, '-'); i > 0 && i < len(pod)-1 && digits(pod[i+1:]) {
			o.kind, o.name, o.statefulSet = "statefulset", pod[:i], pod[:i]
		}
	case l.revisionHash && l.generation:
		// DaemonSet pods carry both labels (StatefulSet pods only the
		// first) and are named <daemonset>-<5 random characters>.
		if i := bytes.LastIndexByte(pod, '-'); i > 0 && len(pod)-i-1 == 5 {
			o.kind, o.name, o.daemonSet = "daemonset", pod[:i], pod[:i]
		}
	case len(l.templateHash) > 0:
		// A Deployment's ReplicaSet is <deployment>-<pod-template-hash> and
		// labels its pods with the hash; its pods are <replicaset>-<5
		// random characters>. The API server cuts generated names to 63
		// characters, so a long replica set name no longer shows in the pod
		// name: then the hash is not found and no tag is set.
		h := l.templateHash
		if i := bytes.LastIndexByte(pod, '-'); i > len(h)+1 {
			rs := pod[:i]
			if bytes.HasSuffix(rs, h) && rs[len(rs)-len(h)-1] == '-' {
				o.kind, o.name = "replicaset", rs
				o.replicaSet, o.deployment = rs, rs[:len(rs)-len(h)-1]
			}
		}
	}
	return o
}

var underscore = []byte{'_'}

// imageID is the image's digest in the kubernetes filter's container_hash
// (<image>@sha256:<digest>, the pod status's imageID), as the Agent's
// image_id tag has it.
func imageID(hash []byte) []byte {
	if i := bytes.LastIndexByte(hash, '@'); i >= 0 {
		return hash[i+1:]
	}
	if bytes.HasPrefix(hash, []byte("sha256:")) {
		return hash
	}
	return nil
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

type image struct {
	name, short, tag []byte
}

var latest = []byte("latest")

// parseImage splits a container image reference as the Agent does for its
// image tags: [registry[:port]/]path/name[:tag][@digest]. image_name keeps
// the registry and path (two images of the same name from different
// registries stay apart), short_image is the last path element, image_tag
// the tag, `latest` when there is neither tag nor digest (what the runtime
// pulled). An image ID (sha256:...), which some runtimes report instead of
// a name, names nothing.
func parseImage(img []byte) (i image) {
	if len(img) == 0 || bytes.HasPrefix(img, []byte("sha256:")) {
		return i
	}
	name := img
	digest := false
	if at := bytes.IndexByte(img, '@'); at >= 0 {
		name, digest = img[:at], true
	}
	slash := bytes.LastIndexByte(name, '/')
	// A ':' before the last '/' is a registry port, not a tag.
	if colon := bytes.LastIndexByte(name, ':'); colon > slash {
		name, i.tag = name[:colon], name[colon+1:]
	}
	if len(i.tag) == 0 && !digest {
		i.tag = latest
	}
	i.name, i.short = name, name[slash+1:]
	return i
}

// addAnnotationTags appends the tags of the ad.datadoghq.com tags
// annotations. Names are sanitized like values, a ':' in a name as a
// character replaced by '_': an annotation can add tags but not set another
// tag's name.
// A tag of a name kubeship derives (see derivedTag) is dropped; their
// names are returned, sorted, each once, for the pod's problem line.
func addAnnotationTags(tl *tagList, tags [][2]string) (derived []string) {
	for _, t := range tags {
		// The name is sanitized into tl.name, without allocating, its ':'
		// made '_' first so that the tag rules merge them with the
		// characters around ("a: b" is a_b, not a__b).
		tl.raw = append(tl.raw[:0], t[0]...)
		for i, c := range tl.raw {
			if c == ':' {
				tl.raw[i] = '_'
			}
		}
		var st tagState
		tl.name = appendSanitized(tl.name[:0], tl.raw, &st)
		name := tl.name
		switch {
		case len(name) == 0:
		case derivedTag(name):
			if i, found := slices.BinarySearch(derived, string(name)); !found {
				derived = slices.Insert(derived, i, string(name))
			}
		case t[1] == "":
			tl.addName(name)
		default:
			tl.addKey(name, utf8.RuneCount(name), []byte(t[1]))
		}
	}
	return derived
}

// derivedTags are the tags that say where a log comes from, which kubeship
// derives itself (see addKubeTags), and the Agent's names of the host and
// node: a pod's annotations cannot set them, nor can pod_labels_as_tags
// (from labels the pod sets). The namespace, cluster, pod, container,
// image and node come from the kubernetes filter (the API server) and
// kubeship's options. The ownership tags (kube_deployment, kube_job, ...)
// and kube_app_* come from the pod's own labels and name, which its owner
// writes: a pod can claim to be any Deployment or Job of its own namespace
// (kube_namespace is the filter's), never another namespace's, and an
// annotation cannot add a second claim beside the one its labels make.
//
// env, service and version stay allowed: Datadog's unified service tagging
// lets a pod set them through these annotations as through its
// tags.datadoghq.com labels, and they say what the application is, not
// where its logs come from.
var derivedTags = func() map[string]bool {
	m := map[string]bool{"host": true, "kube_node": true}
	for _, n := range []string{
		"kube_cluster_name", "kube_namespace", "pod_name", "kube_container_name", "container_id", "container_name",
		"display_container_name", "image_name", "short_image", "image_tag", "docker_image", "image_id", "eks_fargate_node",
		"kube_ownerref_kind", "kube_ownerref_name", "kube_replica_set", "kube_deployment", "kube_stateful_set",
		"kube_daemon_set", "kube_job", "kube_cronjob",
	} {
		m[n] = true
	}
	for _, a := range appLabels {
		m[a.tag] = true
	}
	return m
}()

// derivedTag reports whether a sanitized tag name is one of derivedTags, or
// another kube_app_ name.
func derivedTag(name []byte) bool {
	return derivedTags[string(name)] || bytes.HasPrefix(name, []byte("kube_app_"))
}
