// Package loki maps Fluent Bit records to Loki streams and encodes push
// requests (snappy-compressed protobuf built with github.com/grafana/loki/pkg/push).
package loki

import (
	"bytes"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/entry"
	"github.com/kubeship/kubeship/internal/kube"
	"github.com/kubeship/kubeship/internal/record"
)

// Stats counts what the encoder changed or dropped so that nothing is lost silently.
type Stats struct {
	Records          int // records mapped to entries
	Skipped          int // bodies that are not maps
	Joined           int // partial lines joined to the line they continue
	Malformed        int // records whose body could not be read
	TruncatedLines   int
	DroppedLabels    int // label names over the per-stream limit
	TruncatedLabels  int // label values over Loki's length limit
	DroppedMetadata  int // structured metadata entries over Loki's limits
	FirstLabelDrop   string
	FirstLabelStream string
}

// Encoder turns a chunk's events into push requests. It is safe for
// concurrent use: per-flush state lives in a Batch.
type Encoder struct {
	cfg    *config.Config
	labels []config.Field // user labels in order, then kubernetes defaults
	meta   []config.Field
	line   lineWriter
	// memoLabels: labels depend only on the tag and the kubernetes map
	// (no accessor reads another part of the record), so records with the
	// same map share them.
	memoLabels bool
}

// Kubernetes defaults, with the label names Grafana's Kubernetes tooling uses.
var (
	kubeLabels   = names("namespace", "container", "app")
	kubeMetadata = names("pod", "pod_id", "container_id", "node", "image", "stream", "level")
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

// New builds an encoder for a validated config.
func New(cfg *config.Config) *Encoder {
	e := &Encoder{cfg: cfg, labels: cfg.Labels, meta: cfg.StructuredMetadata, memoLabels: true}
	for _, f := range cfg.Labels {
		if f.Path != nil && !f.Path.IsTag() && f.Path.Root() != "kubernetes" {
			e.memoLabels = false
		}
	}
	e.line = lineWriter{remove: removeTree{}, drop: cfg.DropSingleKey, kv: cfg.LineFormatKV}
	// Keys used through accessors as labels or metadata leave the line, as in
	// Fluent Bit's loki output.
	for _, fs := range [][]config.Field{cfg.Labels, cfg.StructuredMetadata} {
		for _, f := range fs {
			if f.Path != nil {
				if keys, ok := f.Path.Keys(); ok {
					e.line.remove.add(keys)
				}
			}
		}
	}
	for _, p := range cfg.RemoveKeys {
		keys, _ := p.Keys()
		e.line.remove.add(keys)
	}
	if cfg.KubernetesMetadata {
		// The parser's copies of what became labels, metadata and the
		// timestamp, and what the Elasticsearch hop of an aggregator adds.
		for _, k := range []string{"kubernetes", "stream", "logtag", "time", "@timestamp", "@meta", "flb_tag"} {
			e.line.remove.add([]string{k})
		}
	}
	return e
}

// Batch collects one flush's entries by tenant and stream.
type Batch struct {
	tenants []*tenantBatch
	Stats   Stats

	scratch    []byte
	pairs      []pair
	meta       []pair
	arena      []byte // holds the lines, see keep
	labelArena []push.LabelAdapter
	strs       map[string]string // see intern
	kept       int               // bytes kept this flush, to size the next arena
	labels     int               // label adapters used this flush, likewise
	memo       labelMemo         // the last record's labels, see add
	raw        []byte            // a request's protobuf, before snappy
	bodies     [][]byte          // request bodies, see request
}

// keep returns b as a string that stays valid for the batch's life. Lines
// are copied into a shared arena rather than one allocation each: the
// profile of BenchmarkEncode showed per-record allocations dominating.
func (b *Batch) keep(s []byte) string {
	if len(s) == 0 {
		return ""
	}
	b.kept += len(s)
	if cap(b.arena)-len(b.arena) < len(s) {
		b.arena = make([]byte, 0, max(64<<10, len(s)))
	}
	at := len(b.arena)
	b.arena = append(b.arena, s...)
	kept := b.arena[at:]
	return unsafe.String(&kept[0], len(kept))
}

// intern returns s as a string, one allocation per distinct value in the
// batch: metadata values repeat across a pod's records.
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
	hasK8s             bool
	labels             []byte
	dropped, truncated int
}

type tenantBatch struct {
	tenant  string
	streams map[string]int
	list    []push.Stream
}

// Encode maps every entry of chunk into b.
func (e *Encoder) Encode(b *Batch, tag string, chunk []byte) error {
	var r entry.Reader
	r.Reset(chunk)
	b.memo = labelMemo{labels: b.memo.labels[:0]}
	// One chunk holds one tag, so its metadata is read once.
	fromTag, _ := kube.FromTag(tag, e.cfg.KubeTagPrefix)
	for r.Next() {
		if err := e.add(b, tag, fromTag, r.Entry()); err != nil {
			b.Stats.Malformed++
		}
	}
	b.Stats.Skipped += r.Skipped()
	b.Stats.Joined += r.Joined()
	return r.Err()
}

func (e *Encoder) add(b *Batch, tag string, fromTag kube.Meta, en entry.Entry) error {
	body := en.Body
	buf := b.scratch[:0]
	var (
		k8s    kube.Meta
		hasK8s bool
		labels []byte
	)
	if m := &b.memo; e.memoLabels && m.k8s != nil && bytes.Equal(en.Kubernetes, m.k8s) {
		// The records of a chunk come from one container: their kubernetes
		// maps are byte for byte the same, and so are their labels.
		k8s, hasK8s, labels = m.meta, m.hasK8s, m.labels
		b.Stats.DroppedLabels += m.dropped
		b.Stats.TruncatedLabels += m.truncated
	} else {
		dropped, truncated := b.Stats.DroppedLabels, b.Stats.TruncatedLabels
		k8s, hasK8s = e.kubernetes(en.Kubernetes, fromTag)
		buf, labels = e.selector(b, buf, tag, body, k8s, hasK8s)
		if e.memoLabels && en.Kubernetes != nil {
			*m = labelMemo{k8s: en.Kubernetes, meta: k8s, hasK8s: hasK8s, labels: append(m.labels[:0], labels...),
				dropped: b.Stats.DroppedLabels - dropped, truncated: b.Stats.TruncatedLabels - truncated}
		}
	}

	// Structured metadata: map keys, then explicit entries (which override),
	// then kubernetes defaults.
	b.meta = b.meta[:0]
	for _, p := range e.cfg.StructuredMetadataMapKeys {
		if m, ok := p.Lookup(body); ok && record.Type(m) == record.Map {
			_ = record.Each(m, func(k, v []byte) bool {
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
	if e.cfg.KubernetesMetadata {
		for i, v := range [][]byte{k8s.Pod, k8s.PodID, k8s.ContainerID, k8s.Node, k8s.Image, en.Stream, en.Level()} {
			b.meta = addPair(b.meta, kubeMetadata[i], v)
		}
	}

	lineAt := len(buf)
	buf, err := e.line.appendLine(buf, en.Fields, en.Log)
	if err != nil {
		b.scratch = buf
		return err
	}
	line := buf[lineAt:]
	if max := e.cfg.MaxLineSize; max > 0 && len(line) > max {
		line = truncateUTF8(line, max)
		b.Stats.TruncatedLines++
	}

	tenant := e.cfg.TenantID
	if e.cfg.TenantIDKey != nil {
		at := len(buf)
		if v, ok := e.cfg.TenantIDKey.AppendValue(buf, tag, body); ok && len(v) > at {
			buf = v
			tenant = b.intern(buf[at:])
		}
	}
	b.scratch = buf

	pe := push.Entry{Timestamp: time.Unix(0, en.Time), Line: b.keep(line)}
	if len(b.meta) > 0 {
		pe.StructuredMetadata = b.metadata()
	}
	s := b.stream(tenant, labels)
	s.Entries = append(s.Entries, pe)
	b.Stats.Records++
	return nil
}

// kubernetes reads a record's kubernetes map, completed from the tag.
func (e *Encoder) kubernetes(raw []byte, fromTag kube.Meta) (k8s kube.Meta, ok bool) {
	if !e.cfg.KubernetesMetadata && !e.cfg.AutoKubernetesLabels {
		return k8s, false
	}
	if raw != nil {
		k8s, ok = kube.FromMap(raw), true
	}
	if e.cfg.KubernetesMetadata {
		k8s.Fill(fromTag)
		ok = ok || len(fromTag.Namespace) > 0
	}
	return k8s, ok
}

// selector appends a record's stream selector to buf: user labels, auto
// kubernetes labels, then kubernetes defaults; the first of a name wins.
func (e *Encoder) selector(b *Batch, buf []byte, tag string, body []byte, k8s kube.Meta, hasK8s bool) ([]byte, []byte) {
	b.pairs = b.pairs[:0]
	for _, f := range e.labels {
		buf = b.addField(buf, &b.pairs, f, tag, body)
	}
	if hasK8s && e.cfg.AutoKubernetesLabels && k8s.Labels != nil {
		_ = record.Each(k8s.Labels, func(k, v []byte) bool {
			if t, ok := record.Text(v); ok {
				b.pairs = addPair(b.pairs, k, t)
			}
			return true
		})
	}
	if hasK8s && e.cfg.KubernetesMetadata {
		for i, v := range [][]byte{k8s.Namespace, k8s.Container, k8s.App()} {
			b.pairs = addPair(b.pairs, kubeLabels[i], v)
		}
	}
	if len(b.pairs) == 0 {
		b.pairs = append(b.pairs, defaultLabel)
	}
	if len(b.pairs) > maxLabelNames {
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

// metadata copies b.meta into a push label set within Loki's limits. The
// sets are cut from one shared slice instead of allocated one per record.
func (b *Batch) metadata() push.LabelsAdapter {
	b.labels += len(b.meta)
	if cap(b.labelArena)-len(b.labelArena) < len(b.meta) {
		b.labelArena = make([]push.LabelAdapter, 0, max(1024, len(b.meta)))
	}
	at := len(b.labelArena)
	out := b.labelArena[at:at]
	size := 0
	for _, p := range b.meta {
		size += len(p.name) + len(p.value)
		if len(out) == maxMetadataEntries || size > maxMetadataBytes {
			b.Stats.DroppedMetadata++
			continue
		}
		out = append(out, push.LabelAdapter{Name: b.intern(p.name), Value: b.intern(toValidUTF8(p.value))})
	}
	b.labelArena = b.labelArena[:at+len(out)]
	return out[:len(out):len(out)]
}

// stream returns the stream of tenant with the given selector, creating it.
func (b *Batch) stream(tenant string, labels []byte) *push.Stream {
	var t *tenantBatch
	for _, tb := range b.tenants {
		if tb.tenant == tenant {
			t = tb
			break
		}
	}
	if t == nil {
		// A reset batch keeps its tenants' maps and streams' entry slices.
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
			t.list[i].Labels = key
		} else {
			t.list = append(t.list, push.Stream{Labels: key})
		}
	}
	return &t.list[i]
}

// reuse empties s, or replaces it with room for n (and a quarter more)
// when it held less.
func reuse[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n+n/4)
	}
	return s[:0]
}

// Reset empties b for the next flush and keeps its memory: the profile of
// BenchmarkEncode showed a new batch per flush costing more in allocation
// and GC than the encoding itself. Everything built from b, requests and
// their Split functions included, must be done with first.
func (b *Batch) Reset() {
	for _, t := range b.tenants {
		clear(t.streams)
		for i := range t.list {
			t.list[i] = push.Stream{Entries: t.list[i].Entries[:0]}
		}
		t.list = t.list[:0]
	}
	b.tenants = b.tenants[:0]
	b.Stats = Stats{}
	// One arena sized to the last flush's needs serves the next one.
	b.arena = reuse(b.arena, b.kept)
	b.labelArena = reuse(b.labelArena, b.labels)
	b.kept, b.labels = 0, 0
	b.bodies = b.bodies[:0]
	// Interned label sets and metadata values repeat from flush to flush;
	// the bound keeps a churn of pods from growing the map forever.
	if len(b.strs) > 1<<14 {
		clear(b.strs)
	}
}

// Requests splits the batch into push requests of at most maxBytes of
// entries each, one tenant per request, entries of a stream in time order.
// The split depends only on the chunk and the config, so a chunk that
// returns after FLB_RETRY yields the same requests.
func (b *Batch) Requests(maxBytes int) []delivery.Request {
	var reqs []delivery.Request
	for _, t := range b.tenants {
		var cur []push.Stream
		size := 0
		flush := func() {
			if len(cur) > 0 {
				reqs = append(reqs, b.request(t.tenant, cur))
				cur, size = nil, 0
			}
		}
		for _, s := range t.list {
			slices.SortStableFunc(s.Entries, func(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) })
			start := 0
			streamSize := len(s.Labels)
			for i, en := range s.Entries {
				n := entrySize(en)
				if size+streamSize+n > maxBytes && size > 0 {
					if i > start {
						cur = append(cur, push.Stream{Labels: s.Labels, Entries: s.Entries[start:i]})
						start = i
					}
					flush()
					streamSize = len(s.Labels)
				}
				size += n
			}
			cur = append(cur, push.Stream{Labels: s.Labels, Entries: s.Entries[start:]})
			size += streamSize
		}
		flush()
	}
	return reqs
}

func entrySize(e push.Entry) int {
	n := len(e.Line) + 16
	for _, l := range e.StructuredMetadata {
		n += len(l.Name) + len(l.Value) + 4
	}
	return n
}

// request encodes streams as a snappy protobuf push request whose body
// lives in the batch's buffers (reused after Reset), so that steady flushing
// allocates no request memory.
func (b *Batch) request(tenant string, streams []push.Stream) delivery.Request {
	n := len(b.bodies)
	if n < cap(b.bodies) {
		b.bodies = b.bodies[:n+1]
	} else {
		b.bodies = append(b.bodies, nil)
	}
	var raw []byte
	raw, b.raw = marshal(b.raw, streams)
	b.bodies[n] = snappy.Encode(b.bodies[n][:cap(b.bodies[n])], raw)
	return newRequest(tenant, streams, b.bodies[n])
}

// marshal encodes a push request into buf, grown as needed.
func marshal(buf []byte, streams []push.Stream) (raw, grown []byte) {
	req := push.PushRequest{Streams: streams}
	size := req.Size()
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	if _, err := req.MarshalToSizedBuffer(buf[:size]); err != nil {
		// Marshal of in-memory structs fails only on a programming error.
		panic(fmt.Sprintf("loki: marshal push request: %v", err))
	}
	return buf[:size], buf
}

// newRequest wraps a snappy protobuf body.
func newRequest(tenant string, streams []push.Stream, body []byte) delivery.Request {
	records := 0
	for _, s := range streams {
		records += len(s.Entries)
	}
	r := delivery.Request{
		Body:    body,
		Records: records,
		Header:  map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
	}
	if tenant != "" {
		r.Header["X-Scope-OrgID"] = tenant
	}
	if records > 1 {
		r.Split = func() []delivery.Request { return splitStreams(tenant, streams, records) }
	}
	return r
}

// splitStreams halves a request's entries, for a 413 answer.
func splitStreams(tenant string, streams []push.Stream, records int) []delivery.Request {
	half := records / 2
	var a, b []push.Stream
	for _, s := range streams {
		switch n := len(s.Entries); {
		case half >= n:
			a = append(a, s)
			half -= n
		case half > 0:
			a = append(a, push.Stream{Labels: s.Labels, Entries: s.Entries[:half]})
			b = append(b, push.Stream{Labels: s.Labels, Entries: s.Entries[half:]})
			half = 0
		default:
			b = append(b, s)
		}
	}
	encode := func(streams []push.Stream) delivery.Request {
		raw, _ := marshal(nil, streams)
		return newRequest(tenant, streams, snappy.Encode(nil, raw))
	}
	return []delivery.Request{encode(a), encode(b)}
}
