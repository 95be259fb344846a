// Package datadog maps Fluent Bit records to Datadog log objects, with the
// tags the Datadog Agent sets on a Kubernetes container's logs (so no
// remapping pipeline is needed in Datadog), and encodes them as requests for
// the logs intake, POST /api/v2/logs: a JSON array, gzip-compressed.
//
// It writes JSON directly from the msgpack records into reused buffers: no
// encoding/json, no maps per record (see BenchmarkEncode).
package datadog

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/kubeship/kubeship/internal/annotations"
	"github.com/kubeship/kubeship/internal/entry"
	"github.com/kubeship/kubeship/internal/kube"
	"github.com/kubeship/kubeship/internal/record"
)

// Datadog's intake limits (docs.datadoghq.com/api/latest/logs): 5 MB of
// uncompressed payload, 1000 entries and 1 MB per log. MB is read as 10^6
// bytes, the reading that is safe either way (Vector's Datadog sink does the
// same): a payload over the limit is refused with 413 and must be split.
const (
	maxPayloadBytes = 5_000_000
	maxEntries      = 1000
	maxLogBytes     = 1_000_000
)

// truncatedMarker ends a message that was cut, so that a reader of the log
// in Datadog sees it is incomplete.
const truncatedMarker = "...TRUNCATED"

// Options configure an Encoder. The zero value works: no static fields, no
// date key, Datadog's limits, no compression.
type Options struct {
	// Service, Source and Hostname are static defaults of the `service`,
	// `ddsource` and `hostname` fields (dd_service, dd_source,
	// dd_hostname); "" when unset. See derive for what wins over them.
	Service, Source, Hostname string
	// Tags (dd_tags, split on ',' and trimmed) come first in every log's
	// `ddtags`, sanitized to Datadog's tag rules.
	Tags []string
	// MessageKey (dd_message_key) is the record key whose value becomes
	// `message` and leaves the attributes. "" or "log" take the entry's
	// Message(): the `log` text, a raw CRI line's message or joined partial
	// lines. A record without that key falls back to Message().
	MessageKey string
	// IncludeTagKey adds the Fluent Bit tag as the attribute TagKey
	// (include_tag_key, tag_key; "tagkey" when empty, as Fluent Bit).
	IncludeTagKey bool
	TagKey        string
	// DateKey (json_date_key) is the attribute holding the event time in
	// milliseconds since the epoch; "" leaves it out.
	DateKey string
	// KubernetesMetadata maps the kubernetes filter's metadata (completed
	// from the tag) to the Agent's tags, source, service and hostname; the
	// `kubernetes` map and the parser's and aggregator's bookkeeping fields
	// (stream, logtag, time, @timestamp, @meta, flb_tag) then leave the
	// attributes.
	KubernetesMetadata bool
	// LabelsAsTags maps pod label names to tag names (pod_labels_as_tags).
	LabelsAsTags map[string]string
	// Compress gzips request bodies.
	Compress bool
	// MaxBatchBytes bounds a request's uncompressed JSON; 0 or more than
	// Datadog's 5 MB limit means 5 MB.
	MaxBatchBytes int
	// MaxEntries bounds a request's logs; 0 or more than 1000 means 1000.
	MaxEntries int
	// MaxLogBytes bounds one log object's JSON; 0 means Datadog's 1 MB.
	// A longer log's message is cut (on a UTF-8 boundary) and ends with
	// "...TRUNCATED". Objects are also kept within MaxBatchBytes, so that
	// every one fits in a request.
	MaxLogBytes int
	// TagPrefix is the tag prefix before the container log file name
	// (kube_tag_prefix); kube.DefaultTagPrefix when empty.
	TagPrefix string
	// ClusterName (cluster_name) is the kube_cluster_name tag, first of the
	// Kubernetes tags; none when empty.
	ClusterName string
	// TraceKeys and SpanKeys (trace_id_keys, span_id_keys) name the fields
	// of a record, or of its JSON message, that hold trace and span ids,
	// best first (see entry.Keys). An OpenTelemetry hex id becomes the
	// attributes dd.trace_id and dd.span_id in Datadog's decimal form; none
	// are read when both are empty.
	TraceKeys, SpanKeys []string
	// AutoMultiline (auto_multiline) joins the lines of a stack trace into
	// one log, per container and stream, within a chunk; with
	// KubernetesMetadata, a pod's multi_line rule joins its container's
	// lines instead (see entry.Joining). Only with the message from `log`
	// (MessageKey "" or "log").
	AutoMultiline bool
}

// Stats counts what the encoder changed or dropped so that nothing is lost
// silently.
type Stats struct {
	entry.Counts
	TruncatedLogs int // messages cut to fit MaxLogBytes or MaxBatchBytes
	// MaskedToEnd counts logs of which a mask_sequences rule masked the
	// rest of a text whole, its searches at their bound (see
	// annotations.Object).
	MaskedToEnd int
	// DroppedAttributes counts logs sent without their attributes, because
	// the attributes alone exceeded the size limit.
	DroppedAttributes int
}

// Encoder maps chunks to Datadog log objects. It is safe for concurrent
// use: per-flush state lives in a Batch.
type Encoder struct {
	o            Options
	userTags     []string // Options.Tags, sanitized, without duplicates
	labelsAsTags []labelTag
	messageKey   string // "" takes the entry's Message()
	dateKey      []byte // `"<DateKey>":`, nil when unset
	tagKey       []byte // `"<TagKey>":`, nil without IncludeTagKey
	tagKeyName   string
	source       []byte // Options.Source, Service and Hostname
	service      []byte
	hostname     []byte
	tagPrefix    string
	clusterName  []byte // Options.ClusterName, nil when unset
	keys         *entry.Keys
	maxBatch     int
	maxEntries   int
	objLimit     int // the largest log object: min(MaxLogBytes, MaxBatchBytes-2)
	join         bool
	joinMax      int // a joined message's bound, see entry.Joining
}

type labelTag struct {
	label, tag string
	chars      int // characters in tag
}

// New builds an encoder.
func New(o Options) *Encoder {
	e := &Encoder{o: o, tagPrefix: o.TagPrefix}
	if e.tagPrefix == "" {
		e.tagPrefix = kube.DefaultTagPrefix
	}
	e.maxBatch = o.MaxBatchBytes
	if e.maxBatch <= 0 || e.maxBatch > maxPayloadBytes {
		e.maxBatch = maxPayloadBytes
	}
	e.maxEntries = o.MaxEntries
	if e.maxEntries <= 0 || e.maxEntries > maxEntries {
		e.maxEntries = maxEntries
	}
	logLimit := o.MaxLogBytes
	if logLimit <= 0 {
		logLimit = maxLogBytes
	}
	// The brackets of the array take 2 bytes of a request.
	e.objLimit = min(logLimit, e.maxBatch-2)
	e.source, e.service, e.hostname = []byte(o.Source), []byte(o.Service), []byte(o.Hostname)
	if o.ClusterName != "" {
		e.clusterName = []byte(o.ClusterName)
	}
	if len(o.TraceKeys)+len(o.SpanKeys) > 0 {
		e.keys = entry.NewKeys(o.TraceKeys, o.SpanKeys)
	}
	if o.MessageKey != "log" {
		e.messageKey = o.MessageKey
	}
	if o.DateKey != "" {
		e.dateKey = append(record.AppendJSONString(nil, []byte(o.DateKey)), ':')
	}
	if o.IncludeTagKey {
		k := o.TagKey
		if k == "" {
			k = "tagkey"
		}
		e.tagKey = append(record.AppendJSONString(nil, []byte(k)), ':')
		e.tagKeyName = k
	}
	for _, t := range o.Tags {
		if s := SanitizeTag(t); s != "" && !slices.Contains(e.userTags, s) {
			e.userTags = append(e.userTags, s)
		}
	}
	// Map order is random; tags come out in label order so that the same
	// chunk always gives the same requests.
	for label, tag := range o.LabelsAsTags {
		// A label's value cannot become a tag that says where the log
		// comes from (see derivedTags): the pod writes its labels.
		s := SanitizeTag(tag)
		if key, _, _ := strings.Cut(s, ":"); s != "" && label != "" && !derivedTag([]byte(key)) {
			e.labelsAsTags = append(e.labelsAsTags, labelTag{label, s, utf8.RuneCountInString(s)})
		}
	}
	slices.SortFunc(e.labelsAsTags, func(a, b labelTag) int { return strings.Compare(a.label, b.label) })
	// Joined lines make the message: only when it is `log`'s. Bound as the
	// Agent bounds a multi-line message (256,000 bytes), and by half an
	// object, so that escaped newlines and tabs still fit one.
	e.join = e.messageKey == "" && (o.AutoMultiline || o.KubernetesMetadata)
	e.joinMax = min(entry.DefaultMaxBytes, e.objLimit/2)
	return e
}

// Batch holds one flush's log objects. It is reusable: Reset keeps its
// buffers, so a reused Batch encodes without allocating per record.
type Batch struct {
	Stats Stats

	enc     *Encoder
	reader  entry.Reader
	buf     []byte // the log objects, back to back
	ends    []int  // the end of each object in buf
	reqBufs []requestBuf
	gz      *gzip.Writer // see newGzip

	pod      podInfo
	asTags   [][]byte             // pod_labels_as_tags values of the current pod
	ads      annotations.Cache    // the pods' Autodiscovery annotations
	problems annotations.Problems // this flush's annotations partly ignored
	join     entry.Joining        // how the reader joins multi-line records
	msg      []byte               // a message that is not text (dd_message_key)
	attrs    []byte               // the attributes as sent, when rules applied (see applyRules)
	status   []byte
	ids      []byte // the current log's decimal trace and span ids
	tag      []byte // the chunk's tag as JSON
}

// podInfo is what a log object takes from its pod: the same for every record
// with the same kubernetes map, which is every record of a container's
// chunk, so it is derived once and reused while the map stays the same.
type podInfo struct {
	valid   bool
	key     []byte // the kubernetes map it was derived from
	head    []byte // `"ddsource":…,"service":…,"hostname":…`, each when set
	has     fieldSet
	tags    tagList
	rules   annotations.Rules // the container's log processing rules
	problem int               // see annotations.Problems.Of
}

// fieldSet marks the top-level fields a log object was given, so that a
// record field of the same name does not repeat it (JSON with duplicate
// keys is read differently by different parsers; ours are the ones the
// Datadog intake interprets).
type fieldSet uint8

const (
	hasSource fieldSet = 1 << iota
	hasService
	hasHostname
)

// Reset empties the batch, keeping its buffers.
func (b *Batch) Reset() {
	b.Stats = Stats{}
	b.enc = nil
	b.buf, b.ends = b.buf[:0], b.ends[:0]
	b.pod.valid = false
	b.problems.Reset()
}

// Encode maps every entry of chunk into b. The error reports a malformed
// chunk; the entries read before the damage are in b.
func (e *Encoder) Encode(b *Batch, tag string, chunk []byte) error {
	b.enc = e
	// The pod cache is keyed by the kubernetes map alone: the tag, which
	// fills what the map lacks, may differ from the last chunk's.
	b.pod.valid = false
	if e.tagKey != nil {
		b.tag = record.AppendJSONString(b.tag[:0], []byte(tag))
	}
	var fromTag kube.Meta
	if e.o.KubernetesMetadata {
		// One chunk holds one tag, so its metadata is read once.
		fromTag, _ = kube.FromTag(tag, e.tagPrefix)
	}
	r := &b.reader
	r.Reset(chunk)
	r.Keys = e.keys
	r.Join = nil
	if e.join {
		b.join.Auto, b.join.MaxBytes = e.o.AutoMultiline, e.joinMax
		if e.o.KubernetesMetadata && b.join.Rule == nil {
			b.join.Rule = b.multiLineRule // once: a method value allocates
		}
		r.Join = &b.join
	}
	for r.Next() {
		if err := e.add(b, r.Entry(), fromTag); err != nil {
			b.Stats.Malformed++
		}
	}
	b.Stats.Read(r)
	err := r.Err()
	r.Reset(nil) // do not keep the chunk alive with the batch
	return err
}

// multiLineRule returns the multi_line rule of a record's pod (see
// entry.Joining.Rule).
func (b *Batch) multiLineRule(k8s []byte) *regexp.Regexp {
	m := kube.FromMap(k8s)
	return b.ads.Get(m.Annotations, m.Container).MultiLine
}

// entryFields is what a log object takes from its entry.
type entryFields struct {
	traceID  []byte // dd.trace_id and dd.span_id to add, decimal; nil for none
	spanID   []byte
	msg      []byte
	hasMsg   bool
	consumed []byte // the record key that became the message
	status   []byte
	ms       int64
	fields   []entry.Field
	log      []byte // replacement for the `log` value, see entry.Entry.Log
	// attrs are the attributes' JSON, "k":v,… as sent, when the pod's rules
	// rendered them (rendered), so that they are masked.
	attrs    []byte
	rendered bool
}

// add encodes one entry as a log object at the end of b.buf.
func (e *Encoder) add(b *Batch, en entry.Entry, fromTag kube.Meta) error {
	var key []byte
	if e.o.KubernetesMetadata {
		key = en.Kubernetes
	}
	if !b.pod.valid || !bytes.Equal(b.pod.key, key) {
		e.derive(b, key, fromTag)
	}

	// Rounded to the nearest millisecond, as Fluent Bit's datadog output
	// does (plugins/out_datadog/datadog.c), so a migrated output's logs keep
	// their timestamps.
	f := entryFields{fields: en.Fields, log: en.Log, ms: (en.Time + 5e5) / 1e6}
	if e.messageKey != "" {
		for _, fl := range en.Fields {
			if string(fl.Key) != e.messageKey {
				continue
			}
			if t, ok := record.Text(fl.Value); ok {
				f.msg, f.hasMsg = t, true
			} else if s, ok := record.AppendString(b.msg[:0], fl.Value); ok {
				b.msg = s
				f.msg, f.hasMsg = s, true
			}
			if f.hasMsg {
				f.consumed = fl.Key
			}
			break
		}
	}
	if !f.hasMsg {
		if m := en.Message(); m != nil {
			f.msg, f.hasMsg, f.consumed = m, true, logKey
		}
	}
	b.problems.Count(b.pod.problem)

	// status: the application's level, else the stream as the Agent maps
	// it (stderr is error, stdout info); none when neither is known.
	ctx := en.Context()
	if lvl := ctx.Level; len(lvl) > 0 {
		b.status = appendLower(b.status[:0], lvl)
		f.status = b.status
	} else if string(en.Stream) == "stderr" {
		f.status = statusError
	} else if string(en.Stream) == "stdout" {
		f.status = statusInfo
	}

	if len(b.pod.rules) > 0 {
		keep, err := e.applyRules(b, &f)
		if err != nil {
			return err
		}
		if !keep {
			b.Stats.Filtered++
			return nil
		}
	}

	if ctx.TraceID != nil && !strings.HasPrefix(ctx.TraceKey, "dd.") && !hasField(en.Fields, "dd.trace_id") {
		b.ids = b.ids[:0]
		if id, ok := appendDatadogID(b.ids, ctx.TraceID); ok {
			b.ids = id
			f.traceID = id
			if id, ok := appendDatadogID(id, ctx.SpanID); ok {
				b.ids = id
				f.spanID = id[len(f.traceID):]
			}
		}
	}
	// Write the object; when it is over the limit, cut the message by the
	// excess (each raw byte removed shortens the JSON by at least a byte),
	// and when the message cannot absorb it, leave the attributes out.
	at := len(b.buf)
	keep := len(f.msg)
	if keep > e.objLimit {
		// Its JSON is at least as long: cut before escaping megabytes.
		keep = cutUTF8(f.msg, e.objLimit-len(truncatedMarker))
	}
	attrs := true
	for try := 0; ; try++ {
		var err error
		b.buf, err = e.appendObject(b.buf[:at], b, &f, keep, attrs)
		if err != nil {
			b.buf = b.buf[:at]
			return err
		}
		n := len(b.buf) - at
		if n <= e.objLimit || try == 3 {
			// After 3 tries only the pod's own fields are left: such an
			// object goes in a request of its own.
			break
		}
		need := n - e.objLimit
		if keep == len(f.msg) {
			need += len(truncatedMarker)
		}
		if f.hasMsg && keep >= need {
			keep = cutUTF8(f.msg, keep-need)
		} else if attrs {
			attrs = false
		} else {
			keep = 0
		}
	}
	if keep < len(f.msg) {
		b.Stats.TruncatedLogs++
	}
	if !attrs {
		b.Stats.DroppedAttributes++
	}
	b.ends = append(b.ends, len(b.buf))
	b.Stats.Records++
	return nil
}

var (
	logKey      = []byte("log")
	statusError = []byte("error")
	statusInfo  = []byte("info")
)

// appendObject writes one log object: message, ddsource, service, hostname,
// status, ddtags, the date and tag keys, then the record's other fields.
// keep is how much of the message to write.
func (e *Encoder) appendObject(dst []byte, b *Batch, f *entryFields, keep int, attrs bool) ([]byte, error) {
	dst = append(dst, '{')
	if f.hasMsg {
		dst = append(dst, `"message":`...)
		dst = record.AppendJSONString(dst, f.msg[:keep])
		if keep < len(f.msg) {
			dst = append(dst[:len(dst)-1], truncatedMarker+`"`...)
		}
	}
	p := &b.pod
	if len(p.head) > 0 {
		dst = append(comma(dst), p.head...)
	}
	if f.status != nil {
		dst = append(comma(dst), `"status":`...)
		dst = record.AppendJSONString(dst, f.status)
	}
	if len(p.tags.buf) > 0 {
		// Sanitized tags need no escaping (see appendSanitized).
		dst = append(comma(dst), `"ddtags":"`...)
		dst = append(dst, p.tags.buf...)
		dst = append(dst, '"')
	}
	if e.dateKey != nil {
		dst = append(comma(dst), e.dateKey...)
		dst = strconv.AppendInt(dst, f.ms, 10)
	}
	if e.tagKey != nil {
		dst = append(comma(dst), e.tagKey...)
		dst = append(dst, b.tag...)
	}
	if f.traceID != nil {
		// Decimal digits need no escaping.
		dst = append(append(append(comma(dst), `"dd.trace_id":"`...), f.traceID...), '"')
		if f.spanID != nil {
			dst = append(append(append(dst, `,"dd.span_id":"`...), f.spanID...), '"')
		}
	}
	if attrs && f.rendered {
		if len(f.attrs) > 0 {
			dst = append(comma(dst), f.attrs...)
		}
	} else if attrs {
		for _, fl := range f.fields {
			if e.leaves(fl.Key, f, p) {
				continue
			}
			dst = record.AppendJSONString(comma(dst), fl.Key)
			dst = append(dst, ':')
			if f.log != nil && string(fl.Key) == "log" {
				dst = record.AppendJSONString(dst, f.log)
				continue
			}
			var err error
			if dst, err = record.AppendJSON(dst, fl.Value); err != nil {
				return dst, err
			}
		}
	}
	return append(dst, '}'), nil
}

// comma separates a field from the one before it in the object.
func comma(dst []byte) []byte {
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	return dst
}

// leaves reports whether a record field stays out of the attributes: it
// became the message, became tags, is bookkeeping of the router's parser
// or of an aggregator's Elasticsearch hop, or has the name of a field the
// encoder set (a JSON line lifted by Merge_Log may hold `message` or
// `status`; the text is still in the message; `host` counts as
// `hostname`), or is ddtags.
func (e *Encoder) leaves(k []byte, f *entryFields, p *podInfo) bool {
	switch string(k) {
	case "kubernetes", "stream", "logtag", "time", "@timestamp", "@meta", "flb_tag":
		if e.o.KubernetesMetadata {
			return true
		}
	case "message":
		if f.hasMsg {
			return true
		}
	case "ddsource":
		return p.has&hasSource != 0
	case "service":
		return p.has&hasService != 0
	case "hostname", "host":
		// `host` is a reserved attribute, the first of the host
		// attributes Datadog's preprocessing reads (host, hostname,
		// syslog.hostname): a record, whose fields a pod's JSON line
		// writes (Merge_Log), must not name another host than kubeship's.
		return p.has&hasHostname != 0
	case "status":
		return f.status != nil
	case "ddtags":
		// Always kubeship's: the intake reads a log's ddtags as its tags,
		// and a record must not be able to set them. A record's own
		// ddtags is dropped.
		return true
	}
	if f.consumed != nil && string(k) == string(f.consumed) {
		return true
	}
	if e.dateKey != nil && string(k) == e.o.DateKey {
		return true
	}
	return e.tagKey != nil && string(k) == e.tagKeyName
}

// cutUTF8 returns a length of at most n at which s can be cut without
// splitting a character: then the JSON of s[:n] is exactly the start of
// the JSON of s.
func cutUTF8(s []byte, n int) int {
	if n <= 0 {
		return 0
	}
	if n >= len(s) {
		return len(s)
	}
	// Back up over at most 3 continuation bytes (a character has 4 bytes
	// at most); beyond that they are not part of a valid character.
	for i := n; i > n-utf8.UTFMax && i >= 0; i-- {
		if utf8.RuneStart(s[i]) {
			return i
		}
	}
	return n
}

// appendLower appends s with ASCII letters lowercased: Datadog's status
// names are lowercase, applications write INFO or Warn.
func appendLower(dst, s []byte) []byte {
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// derive computes what a log object takes from its pod (key is the
// kubernetes map, nil without one or without KubernetesMetadata):
//
//   - ddtags: Options.Tags, then the Agent's Kubernetes tags (see
//     addKubeTags), then pod_labels_as_tags;
//   - ddsource: the `source` of the pod annotation
//     ad.datadoghq.com/<container>.logs, else Options.Source, else the
//     short image name (the Agent's default), else the container name;
//   - service: the annotation's `service`, else the container's
//     tags.datadoghq.com/<container>.service label, else the pod's
//     tags.datadoghq.com/service, else Options.Service, else the
//     app.kubernetes.io/name or app label, else the container name. What an
//     application team wrote on its pod wins over a cluster-wide default,
//     as with the Agent;
//   - hostname: Options.Hostname, else the pod's node (kubernetes.host).
func (e *Encoder) derive(b *Batch, key []byte, fromTag kube.Meta) {
	p := &b.pod
	p.valid = true
	p.key = append(p.key[:0], key...)
	p.tags.reset()
	for _, t := range e.userTags {
		p.tags.addTag(t)
	}
	if e.clusterName != nil {
		p.tags.add("kube_cluster_name", e.clusterName)
	}
	var m kube.Meta
	var l podLabels
	ad := &noAnnotations
	var img image
	p.rules, p.problem = nil, -1
	if e.o.KubernetesMetadata {
		if key != nil {
			m = kube.FromMap(key)
		}
		m.Fill(fromTag)
		b.asTags = slices.Grow(b.asTags[:0], len(e.labelsAsTags))[:len(e.labelsAsTags)]
		clear(b.asTags)
		l = e.readLabels(m.Labels, m.Container, b.asTags)
		ad = b.ads.Get(m.Annotations, m.Container)
		img = parseImage(m.Image)
		e.addKubeTags(&p.tags, m, &l, &img, b.asTags)
		derived := addAnnotationTags(&p.tags, ad.Tags)
		p.rules, p.problem = ad.Rules, b.problems.Of(ad, m.Namespace, m.Pod, m.Container, tagProblems(derived, p.tags.dropped)...)
	}
	app := l.app[0]
	if len(app) == 0 {
		app = l.legacyApp
	}

	p.head, p.has = p.head[:0], 0
	if v := firstOf(ad.Source, e.source, img.short, m.Container); len(v) > 0 {
		p.head = appendField(p.head, `"ddsource":`, v)
		p.has |= hasSource
	}
	if v := firstOf(ad.Service, l.unified[unifiedService], e.service, app, m.Container); len(v) > 0 {
		p.head = appendField(p.head, `"service":`, v)
		p.has |= hasService
	}
	if v := firstOf(e.hostname, m.Node); len(v) > 0 {
		p.head = appendField(p.head, `"hostname":`, v)
		p.has |= hasHostname
	}
}

// appendDatadogID appends an OpenTelemetry hex id (16 or 32 digits) in
// Datadog's form: the lower 64 bits in decimal. ok is false for any other
// value (a Datadog id is decimal already; a request id is no trace id).
func appendDatadogID(dst, hex []byte) ([]byte, bool) {
	if len(hex) != 16 && len(hex) != 32 || !entry.IsHex(hex) {
		return dst, false
	}
	n, err := strconv.ParseUint(string(hex[len(hex)-16:]), 16, 64)
	if err != nil { // cannot happen: 16 hex digits fit
		return dst, false
	}
	return strconv.AppendUint(dst, n, 10), true
}

// hasField reports whether a record has a top-level field named key.
func hasField(fields []entry.Field, key string) bool {
	for _, f := range fields {
		if string(f.Key) == key {
			return true
		}
	}
	return false
}

// noAnnotations are a pod's without Kubernetes metadata.
var noAnnotations annotations.Container

func appendField(dst []byte, name string, v []byte) []byte {
	if len(dst) > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, name...)
	return record.AppendJSONString(dst, v)
}

// firstOf returns the first non-empty value.
func firstOf(vs ...[]byte) []byte {
	for _, v := range vs {
		if len(v) > 0 {
			return v
		}
	}
	return nil
}
