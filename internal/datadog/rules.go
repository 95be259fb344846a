package datadog

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tinylib/msgp/msgp"

	"github.com/kubeship/kubeship/internal/annotations"
	"github.com/kubeship/kubeship/internal/record"
)

// applyRules applies the pod's log processing rules to what the log object
// sends, whatever Merge_Log and Keep_Log left in the record: the message
// and the attributes, their keys and their string and number values,
// nested ones included (a rule that only saw the message let a JSON line's
// lifted fields through unmasked, and saw nothing without a `log`). The
// fields kubeship sets (ddsource, service, hostname, status, ddtags, the
// date and tag keys, dd.trace_id) are not the log's text, as for the Agent.
// The attributes are rendered, masked, into b.attrs for appendObject. keep
// is false when a rule filters the log; err reports an attribute that
// cannot be rendered.
func (e *Encoder) applyRules(b *Batch, f *entryFields) (keep bool, err error) {
	o := b.pod.rules.Start()
	if f.hasMsg {
		f.msg = o.Part(f.msg)
	}
	b.attrs = b.attrs[:0]
	for _, fl := range f.fields {
		if o.Excluded() {
			return false, nil
		}
		if e.leaves(fl.Key, f, &b.pod) {
			continue
		}
		if len(b.attrs) > 0 {
			b.attrs = append(b.attrs, ',')
		}
		b.attrs = record.AppendJSONString(b.attrs, o.Part(fl.Key))
		b.attrs = append(b.attrs, ':')
		if f.log != nil && string(fl.Key) == "log" {
			b.attrs = record.AppendJSONString(b.attrs, o.Part(f.log))
			continue
		}
		if b.attrs, _, err = appendMasked(b.attrs, fl.Value, &o, 0); err != nil {
			return false, err
		}
	}
	if !o.Keep() {
		return false, nil
	}
	if o.Cut {
		b.Stats.MaskedToEnd++
	}
	f.attrs, f.rendered = b.attrs, true
	return true, nil
}

// appendMasked appends the JSON of the msgpack value at the start of v, as
// record.AppendJSON does, with each map key, string and number passed
// through o (a number a mask changed becomes a string), and returns the
// rest of v. It reads v once: maps and arrays are walked, not skipped first.
func appendMasked(dst, v []byte, o *annotations.Object, depth int) (out, rest []byte, err error) {
	var n uint32
	switch record.Type(v) {
	case record.Str, record.Bin:
		s, ok := record.Text(v)
		if !ok {
			return dst, v, record.ErrTruncated
		}
		h := cap(v) - cap(s) // the header's length: s is v[h:h+len(s)]
		return record.AppendJSONString(dst, o.Part(s)), v[h+len(s):], nil
	case record.Map:
		n, rest, err = msgp.ReadMapHeaderBytes(v)
	case record.Array:
		n, rest, err = msgp.ReadArrayHeaderBytes(v)
	default:
		end, err := record.Skip(v)
		if err != nil {
			return dst, v, err
		}
		at := len(dst)
		if dst, err = record.AppendJSON(dst, v[:len(v)-len(end)]); err != nil {
			return dst, v, err
		}
		switch record.Type(v) {
		case record.Int, record.Uint, record.Float:
			if num := dst[at:]; len(num) > 0 && num[0] != 'n' { // not null (NaN)
				if masked := o.Part(num); string(masked) != string(num) {
					dst = record.AppendJSONString(dst[:at], masked)
				}
			}
		}
		return dst, end, nil
	}
	if err != nil {
		return dst, v, err
	}
	if depth >= record.MaxDepth {
		return dst, v, record.ErrTooDeep
	}
	isMap := record.Type(v) == record.Map
	open, close := byte('['), byte(']')
	if isMap {
		open, close = '{', '}'
	}
	dst = append(dst, open)
	var key []byte
	for i := uint32(0); i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		if isMap {
			// A key that is not a str or bin is written as the text
			// record.Each passes (its AppendString form, or its JSON).
			k, ok := record.Text(rest)
			if ok {
				rest = rest[cap(rest)-cap(k)+len(k):]
			} else {
				kEnd, err := record.Skip(rest)
				if err != nil {
					return dst, v, err
				}
				raw := rest[:len(rest)-len(kEnd)]
				if key, ok = record.AppendString(key[:0], raw); !ok {
					if key, err = record.AppendJSON(key[:0], raw); err != nil {
						return dst, v, err
					}
				}
				k, rest = key, kEnd
			}
			dst = append(record.AppendJSONString(dst, o.Part(k)), ':')
		}
		if dst, rest, err = appendMasked(dst, rest, o, depth+1); err != nil {
			return dst, v, err
		}
	}
	return append(dst, close), rest, nil
}

// tagProblems says what a pod's tags lost: the annotation tags named like
// tags kubeship derives (sorted names), and the tags over ddtags' bounds.
func tagProblems(derived []string, dropped int) []string {
	var p []string
	if len(derived) > 0 {
		names := make([]string, 0, 12)
		for _, n := range derived[:min(len(derived), 12)] {
			names = append(names, strconv.Quote(n)) // sanitized: no control characters
		}
		more := ""
		if len(derived) > 12 {
			more = fmt.Sprintf(" and %d more", len(derived)-12)
		}
		p = append(p, fmt.Sprintf("ad.datadoghq.com tags: tags named %s%s are kubeship's (where the log comes from): dropped",
			strings.Join(names, ", "), more))
	}
	if dropped > 0 {
		p = append(p, fmt.Sprintf("ddtags: %d tags over Datadog's %d tags or kubeship's %d bytes per log are dropped (the pod's own come last)",
			dropped, maxLogTags, maxTagsBytes))
	}
	return p
}
