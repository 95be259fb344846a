// Package loki maps Fluent Bit records to Loki streams and encodes push
// requests: snappy-compressed protobuf of github.com/grafana/loki/pkg/push's
// messages, written by hand (wire.go) and checked against its Unmarshal.
package loki

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"

	"github.com/kubeship/kubeship/internal/annotations"
	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/entry"
	"github.com/kubeship/kubeship/internal/kube"
	"github.com/kubeship/kubeship/internal/record"
)

// Stats counts what the encoder changed or dropped so that nothing is lost silently.
type Stats struct {
	entry.Counts
	TruncatedLines   int
	DroppedLabels    int // label names over the per-stream limit
	TruncatedLabels  int // label values over Loki's length limit
	DroppedMetadata  int // structured metadata entries over Loki's limits
	SanitizedTenants int // records whose tenant Loki would refuse, made valid
	FirstLabelDrop   string
}

// Encoder turns a chunk's events into push requests. It is safe for
// concurrent use: per-flush state lives in a Batch.
type Encoder struct {
	o      Options
	keys   *entry.Keys    // nil without trace keys
	labels []config.Field // user labels in order, then kubernetes defaults
	meta   []config.Field
	line   lineWriter
	// memoLabels: labels depend only on the tag and the kubernetes map
	// (no accessor reads another part of the record), so records with the
	// same map share them.
	memoLabels bool
	// memoMeta: structured metadata is only the kubernetes defaults, so the
	// part from the kubernetes map is encoded once per map (see labelMemo).
	memoMeta bool
	// join: the reader joins multi-line records (stack traces; see
	// Options.AutoMultiline), each at most joinMax bytes.
	join    bool
	joinMax int
}

// Kubernetes defaults, with the label names Grafana's Kubernetes tooling uses.
var (
	kubeLabels   = names("namespace", "container", "app")
	kubeMetadata = names("pod", "pod_id", "container_id", "node", "image", "stream", "level", "trace_id", "span_id")
	// Fluent Bit's loki output labels a record without labels so.
	defaultLabel = pair{name: []byte("job"), value: []byte("fluent-bit")}
)

func names(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, n := range s {
		out[i] = []byte(n)
	}
	return out
}

// Options are the encoder's settings. The zero value sends each record's
// JSON with the label job="fluent-bit", as Fluent Bit's loki output does.
type Options struct {
	// Loki is the keys of destination loki, validated by config.Parse.
	config.Loki
	// KubernetesMetadata (kubernetes_metadata) maps the kubernetes filter's
	// map, completed from the tag, to the labels namespace, container and
	// app and, with StructuredMetadataDefaults, to structured metadata; the
	// map and the parser's and aggregator's bookkeeping keys leave the line.
	KubernetesMetadata bool
	// TagPrefix (kube_tag_prefix) is the tag prefix before the container log
	// file name; kube.DefaultTagPrefix when empty.
	TagPrefix string
	// MaxBatchBytes (batch_size) bounds a request's entries; 0 means 1 MB.
	MaxBatchBytes int
	// TraceKeys and SpanKeys (trace_id_keys, span_id_keys) name the fields
	// of a record, or of its JSON line, holding trace and span ids, best
	// first (see entry.Keys). With StructuredMetadataDefaults they become
	// the structured metadata trace_id and span_id, which Grafana links to
	// traces; none are read when both are empty.
	TraceKeys, SpanKeys []string
	// AutoMultiline (auto_multiline) joins the lines of a stack trace into
	// one entry, per container and stream, within a chunk; with
	// PodLogRules, a pod's multi_line rule joins its container's lines
	// instead (see entry.Joining). A joined line stays within
	// MaxLineSize.
	AutoMultiline bool
}

// New builds an encoder.
func New(o Options) *Encoder {
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.TagPrefix == "" {
		o.TagPrefix = kube.DefaultTagPrefix
	}
	var keys *entry.Keys
	if len(o.TraceKeys)+len(o.SpanKeys) > 0 && o.StructuredMetadataDefaults {
		keys = entry.NewKeys(o.TraceKeys, o.SpanKeys)
	}
	e := &Encoder{o: o, keys: keys, labels: o.Labels, meta: o.StructuredMetadata, memoLabels: true}
	for _, f := range o.Labels {
		if f.Path != nil && !f.Path.IsTag() && f.Path.Root() != "kubernetes" {
			e.memoLabels = false
		}
	}
	e.memoMeta = e.memoLabels && o.StructuredMetadataDefaults && len(o.StructuredMetadata) == 0 && len(o.StructuredMetadataMapKeys) == 0
	e.line = lineWriter{remove: removeTree{}, drop: o.DropSingleKey, kv: o.LineFormatKV}
	// Keys used through accessors as labels or metadata leave the line, as in
	// Fluent Bit's loki output.
	for _, fs := range [][]config.Field{o.Labels, o.StructuredMetadata} {
		for _, f := range fs {
			if f.Path != nil {
				if keys, ok := f.Path.Keys(); ok {
					e.line.remove.add(keys)
				}
			}
		}
	}
	// So do the maps of structured_metadata_map_keys (loki.c removes them
	// too), and remove_keys.
	for _, p := range slices.Concat(o.StructuredMetadataMapKeys, o.RemoveKeys) {
		keys, _ := p.Keys()
		e.line.remove.add(keys)
	}
	if o.KubernetesMetadata {
		// The parser's copies of what became labels, metadata and the
		// timestamp, and what the Elasticsearch hop of an aggregator adds.
		for _, k := range []string{"kubernetes", "stream", "logtag", "time", "@timestamp", "@meta", "flb_tag"} {
			e.line.remove.add([]string{k})
		}
	}
	e.line.index()
	// Joined lines replace `log`: not when it leaves the line.
	sub, removed := e.line.remove["log"]
	if (o.AutoMultiline || o.PodLogRules) && !(removed && sub == nil) {
		e.join, e.joinMax = true, entry.DefaultMaxBytes
		if o.MaxLineSize > 0 {
			// A raw line is the message; a JSON line escapes its
			// newlines and tabs: room for them.
			e.joinMax = o.MaxLineSize
			if o.DropSingleKey != config.DropRaw {
				e.joinMax = o.MaxLineSize / 2
			}
		}
	}
	return e
}

// Batch collects one flush's entries by tenant and stream, encoded (see
// wire.go).
type Batch struct {
	tenants []*tenantBatch
	Stats   Stats
	reader  entry.Reader

	scratch  []byte
	pairs    []pair
	meta     []pair
	strs     map[string]string // see intern
	memo     labelMemo         // the last record's labels, see add
	bodies   [][]byte          // request bodies, see request
	maxBytes int               // Options.MaxBatchBytes of the last Encode

	// With Options.PodLogRules: the pods' annotations, and the rules of the
	// last record's kubernetes map (rulesOf aliases the chunk).
	ads      annotations.Cache
	problems annotations.Problems
	rulesOf  []byte
	rules    annotations.Rules
	problem  int
	// join is how the reader joins multi-line records (Encoder.join).
	join entry.Joining
}

// intern returns s as a string, one allocation per distinct value in the
// batch: label sets and tenants repeat across a pod's records.
func (b *Batch) intern(s []byte) string {
	if v, ok := b.strs[string(s)]; ok {
		return v
	}
	if b.strs == nil {
		b.strs = map[string]string{}
	}
	v := string(s)
	b.strs[v] = v
	return v
}

// labelMemo keeps what the last record's kubernetes map gave. Its slices
// alias the chunk being encoded, so Encode clears it.
type labelMemo struct {
	k8s                []byte // the raw kubernetes map it was computed from
	meta               kube.Meta
	labels             []byte
	dropped, truncated int
	// With Encoder.memoMeta: the map's structured metadata (pod, pod_id,
	// container_id, node, image) as encoded pairs, how many and their size
	// as Loki's limits count it. Encoding these pairs for every record was
	// 40% of BenchmarkEncode/one_container.
	metaOK    bool // within the limits: the memo is used
	metaEnc   []byte
	metaPairs int
	metaSize  int
	// The stream the labels gave for tenant: b.tenants[ti].list[si]. Finding
	// it by its selector in the tenant's map was 4% of BenchmarkEncode.
	inStream bool
	tenant   string
	ti, si   int
}

type tenantBatch struct {
	tenant  string
	streams map[string]int
	list    []stream
}

// Encode maps every entry of chunk into b.
func (e *Encoder) Encode(b *Batch, tag string, chunk []byte) error {
	// The reader is the batch's: its buffers (fields, split lines) serve
	// flush after flush, where a new one per chunk allocated them again.
	r := &b.reader
	r.Reset(chunk)
	r.Keys = e.keys
	r.Join = nil
	if e.join {
		b.join.Auto, b.join.MaxBytes = e.o.AutoMultiline, e.joinMax
		if e.o.PodLogRules && b.join.Rule == nil {
			b.join.Rule = b.multiLineRule // once: a method value allocates
		}
		r.Join = &b.join
	}
	b.maxBytes = e.o.MaxBatchBytes
	b.memo = labelMemo{labels: b.memo.labels[:0], metaEnc: b.memo.metaEnc[:0]}
	b.rulesOf, b.rules = nil, nil
	// One chunk holds one tag, so its metadata is read once.
	fromTag, _ := kube.FromTag(tag, e.o.TagPrefix)
	for r.Next() {
		if err := e.add(b, tag, fromTag, r.Entry()); err != nil {
			b.Stats.Malformed++
		}
	}
	b.Stats.Read(r)
	err := r.Err()
	r.Reset(nil) // do not keep the chunk alive with the batch
	return err
}

func (e *Encoder) add(b *Batch, tag string, fromTag kube.Meta, en entry.Entry) error {
	body := en.Body
	buf := b.scratch[:0]
	var (
		k8s    kube.Meta
		labels []byte
	)
	m := &b.memo
	hit := e.memoLabels && m.k8s != nil && bytes.Equal(en.Kubernetes, m.k8s)
	memoed := hit // the memo is this record's
	if hit {
		// The records of a chunk come from one container: their kubernetes
		// maps are byte for byte the same, and so are their labels.
		k8s, labels = m.meta, m.labels
		b.Stats.DroppedLabels += m.dropped
		b.Stats.TruncatedLabels += m.truncated
	} else {
		dropped, truncated := b.Stats.DroppedLabels, b.Stats.TruncatedLabels
		var hasK8s bool
		k8s, hasK8s = e.kubernetes(en.Kubernetes, fromTag)
		buf, labels = e.selector(b, buf, tag, body, k8s, hasK8s)
		if e.memoLabels && en.Kubernetes != nil {
			memoed = true
			*m = labelMemo{k8s: en.Kubernetes, meta: k8s, labels: append(m.labels[:0], labels...),
				dropped: b.Stats.DroppedLabels - dropped, truncated: b.Stats.TruncatedLabels - truncated, metaEnc: m.metaEnc[:0]}
			if e.memoMeta {
				b.memoMeta(k8s)
			}
		}
	}

	// Structured metadata: map keys, then explicit entries (which override),
	// then kubernetes defaults.
	b.meta = b.meta[:0]
	var pre []byte // encoded pairs before b.meta's
	kept, size := 0, 0
	if e.memoMeta && m.metaOK && en.Kubernetes != nil {
		pre, kept, size = m.metaEnc, m.metaPairs, m.metaSize
		ctx := en.Context()
		for i, v := range [][]byte{en.Stream, ctx.Level, ctx.TraceID, ctx.SpanID} {
			b.meta = addPair(b.meta, kubeMetadata[5+i], v)
		}
	} else {
		for _, p := range e.o.StructuredMetadataMapKeys {
			if mk, ok := p.Lookup(body); ok && record.Type(mk) == record.Map {
				_ = record.Each(mk, func(k, v []byte) bool {
					at := len(buf)
					var ok bool
					if buf, ok = record.AppendString(buf, v); ok {
						b.meta = setPair(b.meta, k, buf[at:])
					}
					return true
				})
			}
		}
		for _, f := range e.meta {
			buf = b.addMeta(buf, f, tag, body)
		}
		if e.o.StructuredMetadataDefaults {
			ctx := en.Context()
			for i, v := range [][]byte{k8s.Pod, k8s.PodID, k8s.ContainerID, k8s.Node, k8s.Image, en.Stream, ctx.Level, ctx.TraceID, ctx.SpanID} {
				b.meta = addPair(b.meta, kubeMetadata[i], v)
			}
		}
	}

	lineAt := len(buf)
	buf, err := e.line.appendLine(buf, en.Fields, en.Log)
	if err != nil {
		b.scratch = buf
		return err
	}
	line := buf[lineAt:]
	if e.o.PodLogRules {
		var keep bool
		if line, keep = b.podRules(en.Kubernetes).Apply(line); !keep {
			b.scratch = buf[:lineAt]
			b.Stats.Filtered++
			return nil
		}
	}
	if max := e.o.MaxLineSize; max > 0 && len(line) > max {
		line = truncateUTF8(line, max)
		b.Stats.TruncatedLines++
	}

	tenant := e.o.TenantID
	if e.o.TenantIDKey != nil {
		at := len(buf)
		if v, ok := e.o.TenantIDKey.AppendValue(buf, tag, body); ok && len(v) > at {
			t, changed := sanitizeTenant(v[at:])
			if changed {
				b.Stats.SanitizedTenants++
			}
			buf = v[:at+len(t)]
			tenant = b.intern(t)
		}
	}
	b.scratch = buf

	var s *stream
	if hit && m.inStream && m.tenant == tenant {
		s = &b.tenants[m.ti].list[m.si]
	} else {
		ti, si := b.stream(tenant, labels)
		s = &b.tenants[ti].list[si]
		if memoed {
			m.inStream, m.tenant, m.ti, m.si = true, tenant, ti, si
		}
	}
	off := len(s.data)
	s.data = appendEntry(s.data, en.Time, line, pre, b.metadata(kept, size))
	s.entries = append(s.entries, entryRef{ns: en.Time, off: off, end: len(s.data)})
	b.Stats.Records++
	return nil
}

// podRules returns the log processing rules of a record's pod (see
// annotations), counting the record under its pod's problems if any.
func (b *Batch) podRules(k8s []byte) annotations.Rules {
	if k8s == nil {
		return nil
	}
	if b.rulesOf == nil || !bytes.Equal(k8s, b.rulesOf) {
		m := kube.FromMap(k8s)
		ad := b.ads.Get(m.Annotations, m.Container)
		b.rulesOf, b.rules, b.problem = k8s, ad.Rules, b.problems.Of(ad, m.Namespace, m.Pod, m.Container)
	}
	b.problems.Count(b.problem)
	return b.rules
}

// multiLineRule returns the multi_line rule of a record's pod (see
// entry.Joining.Rule).
func (b *Batch) multiLineRule(k8s []byte) *regexp.Regexp {
	m := kube.FromMap(k8s)
	return b.ads.Get(m.Annotations, m.Container).MultiLine
}

// kubernetes reads a record's kubernetes map, completed from the tag.
func (e *Encoder) kubernetes(raw []byte, fromTag kube.Meta) (k8s kube.Meta, ok bool) {
	if !e.o.KubernetesMetadata && !e.o.AutoKubernetesLabels {
		return k8s, false
	}
	if raw != nil {
		k8s, ok = kube.FromMap(raw), true
	}
	if e.o.KubernetesMetadata {
		k8s.Fill(fromTag)
		ok = ok || len(fromTag.Namespace) > 0
	}
	return k8s, ok
}

// selector appends a record's stream selector to buf: user labels, then
// the kubernetes defaults, then, with auto_kubernetes_labels, the pod's
// labels; the first of a name wins. A pod controls its labels, so they come
// last: a pod label named namespace, container or app, or like a user
// label, is dropped rather than taking the name, and Loki's label limit
// cuts pod labels before any label that says whose the stream is.
func (e *Encoder) selector(b *Batch, buf []byte, tag string, body []byte, k8s kube.Meta, hasK8s bool) ([]byte, []byte) {
	b.pairs = b.pairs[:0]
	for _, f := range e.labels {
		buf = b.addField(buf, &b.pairs, f, tag, body)
	}
	if hasK8s && e.o.KubernetesMetadata {
		for i, v := range [][]byte{k8s.Namespace, k8s.Container, k8s.App()} {
			b.pairs = addPair(b.pairs, kubeLabels[i], v)
		}
	}
	if hasK8s && e.o.AutoKubernetesLabels && k8s.Labels != nil {
		_ = record.Each(k8s.Labels, func(k, v []byte) bool {
			if t, ok := record.Text(v); ok {
				b.pairs = addPair(b.pairs, k, t)
			}
			return true
		})
	}
	if len(b.pairs) == 0 {
		b.pairs = append(b.pairs, defaultLabel)
	}
	if len(b.pairs) > maxLabelNames {
		// Pod labels are cut first: they come last.
		if b.Stats.DroppedLabels == 0 {
			var names []string
			for _, p := range b.pairs[maxLabelNames:] {
				names = append(names, string(p.name))
			}
			b.Stats.FirstLabelDrop = fmt.Sprint(names)
		}
		b.Stats.DroppedLabels += len(b.pairs) - maxLabelNames
		b.pairs = b.pairs[:maxLabelNames]
	}
	for i := range b.pairs {
		if len(b.pairs[i].value) > maxLabelValueLength {
			b.pairs[i].value = truncateUTF8(b.pairs[i].value, maxLabelValueLength)
			b.Stats.TruncatedLabels++
		}
	}
	at := len(buf)
	buf = appendLabels(buf, b.pairs)
	return buf, buf[at:]
}

// addField evaluates a label field into pairs (skipping empty values).
func (b *Batch) addField(buf []byte, pairs *[]pair, f config.Field, tag string, body []byte) []byte {
	at := len(buf)
	if f.Path != nil {
		var ok bool
		if buf, ok = f.Path.AppendValue(buf, tag, body); !ok {
			return buf[:at]
		}
	} else {
		buf = append(buf, f.Static...)
	}
	*pairs = addPair(*pairs, []byte(f.Name), buf[at:])
	return buf
}

func (b *Batch) addMeta(buf []byte, f config.Field, tag string, body []byte) []byte {
	at := len(buf)
	if f.Path != nil {
		var ok bool
		if buf, ok = f.Path.AppendValue(buf, tag, body); !ok {
			return buf[:at]
		}
	} else {
		buf = append(buf, f.Static...)
	}
	if at < len(buf) {
		b.meta = setPair(b.meta, []byte(f.Name), buf[at:])
	}
	return buf
}

// addPair adds a sanitized name and value unless the value is empty or the
// name is already set (first wins).
func addPair(pairs []pair, name, value []byte) []pair {
	if len(value) == 0 {
		return pairs
	}
	clean := labelName(name)
	for _, p := range pairs {
		if bytes.Equal(p.name, clean) {
			return pairs
		}
	}
	return append(pairs, pair{name: clean, value: value})
}

// setPair adds or replaces name (last wins).
func setPair(pairs []pair, name, value []byte) []pair {
	clean := labelName(name)
	for i, p := range pairs {
		if bytes.Equal(p.name, clean) {
			pairs[i].value = value
			return pairs
		}
	}
	return append(pairs, pair{name: clean, value: value})
}

// memoMeta encodes the structured metadata from a kubernetes map into the
// memo, as metadata would count and clean it.
func (b *Batch) memoMeta(k8s kube.Meta) {
	m := &b.memo
	b.meta = b.meta[:0]
	for i, v := range [][]byte{k8s.Pod, k8s.PodID, k8s.ContainerID, k8s.Node, k8s.Image} {
		b.meta = addPair(b.meta, kubeMetadata[i], v)
	}
	m.metaSize = 0
	for _, p := range b.meta { // counted before the values are cleaned, as metadata does
		m.metaSize += len(p.name) + len(p.value)
	}
	dropped := b.Stats.DroppedMetadata
	pairs := b.metadata(0, 0)
	m.metaOK = b.Stats.DroppedMetadata == dropped // else every record takes the long way
	b.Stats.DroppedMetadata = dropped
	m.metaPairs = len(pairs)
	m.metaEnc = appendPairs(m.metaEnc[:0], pairs)
}

// metadata returns b.meta within Loki's limits, values made valid UTF-8;
// kept pairs of size bytes come before them.
func (b *Batch) metadata(kept, size int) []pair {
	n := 0
	for _, p := range b.meta {
		size += len(p.name) + len(p.value)
		if kept == maxMetadataEntries || size > maxMetadataBytes {
			b.Stats.DroppedMetadata++
			continue
		}
		b.meta[n] = pair{name: p.name, value: toValidUTF8(p.value)}
		n++
		kept++
	}
	return b.meta[:n]
}

// stream finds the stream of tenant with the given selector, creating it:
// it is b.tenants[ti].list[si].
func (b *Batch) stream(tenant string, labels []byte) (ti, si int) {
	var t *tenantBatch
	for i, tb := range b.tenants {
		if tb.tenant == tenant {
			t, ti = tb, i
			break
		}
	}
	if t == nil {
		ti = len(b.tenants)
		// A reset batch keeps its tenants' maps and streams' buffers.
		if n := len(b.tenants); n < cap(b.tenants) {
			t = b.tenants[:n+1][n]
			t.tenant = tenant
		} else {
			t = &tenantBatch{tenant: tenant, streams: map[string]int{}}
		}
		b.tenants = append(b.tenants, t)
	}
	i, ok := t.streams[string(labels)]
	if !ok {
		key := b.intern(labels)
		i = len(t.list)
		t.streams[key] = i
		if i < cap(t.list) {
			t.list = t.list[:i+1]
			t.list[i].labels = key
		} else {
			t.list = append(t.list, stream{labels: key})
		}
	}
	return ti, i
}

// Reset empties b for the next flush and keeps its memory: the profile of
// BenchmarkEncode showed a new batch per flush costing more in allocation
// and GC than the encoding itself. Everything built from b, requests and
// their Split functions included, must be done with first.
func (b *Batch) Reset() {
	for _, t := range b.tenants {
		clear(t.streams)
		for i := range t.list {
			t.list[i] = stream{data: t.list[i].data[:0], entries: t.list[i].entries[:0]}
		}
		t.list = t.list[:0]
	}
	b.tenants = b.tenants[:0]
	b.Stats = Stats{}
	b.bodies = b.bodies[:0]
	b.problems.Reset()
	// Interned label sets repeat from flush to flush; the bound keeps a
	// churn of pods from growing the map forever.
	if len(b.strs) > 1<<14 {
		clear(b.strs)
	}
}
