// Package eventtest builds Fluent Bit chunks for tests: events in the v1 and
// v2 layouts with any timestamp encoding, realistic EKS Fargate bodies and
// random bodies from a seeded generator. Maps are written with sorted keys so
// that encoded output is stable.
package eventtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// TimeAs selects how an event's timestamp is encoded.
type TimeAs uint8

const (
	Ext   TimeAs = iota // ext type 0 as fixext 8 (seconds, nanoseconds): what Fluent Bit writes
	Ext8                // ext type 0 as ext 8 with an explicit length of 8
	Int                 // signed integer seconds (sub-second part dropped)
	Uint                // unsigned integer seconds (sub-second part dropped)
	Float               // float64 seconds
)

// Event is one event to encode.
type Event struct {
	Time   time.Time
	TimeAs TimeAs
	// Meta is the v2 metadata map; nil is written as an empty map. Ignored
	// in v1 chunks.
	Meta map[string]any
	// Body is the record, normally a map[string]any; see AppendValue for the
	// types it may hold.
	Body any
	// RawTime, when not nil, is written verbatim in place of the timestamp
	// (for group markers and malformed input).
	RawTime []byte
}

// Chunk encodes events as a chunk: v2 selects [[timestamp, metadata], body],
// otherwise [timestamp, body].
func Chunk(v2 bool, events ...Event) []byte {
	var b []byte
	for _, e := range events {
		b = AppendEvent(b, v2, e)
	}
	return b
}

// AppendEvent appends one encoded event to dst.
func AppendEvent(dst []byte, v2 bool, e Event) []byte {
	dst = msgp.AppendArrayHeader(dst, 2)
	if v2 {
		dst = msgp.AppendArrayHeader(dst, 2)
	}
	if e.RawTime != nil {
		dst = append(dst, e.RawTime...)
	} else {
		dst = AppendTime(dst, e.Time, e.TimeAs)
	}
	if v2 {
		meta := e.Meta
		if meta == nil {
			meta = map[string]any{}
		}
		dst = AppendValue(dst, meta)
	}
	return AppendValue(dst, e.Body)
}

// AppendTime appends t as an event timestamp encoded as selected by as.
func AppendTime(dst []byte, t time.Time, as TimeAs) []byte {
	sec, nsec := t.Unix(), t.Nanosecond()
	switch as {
	case Ext, Ext8:
		var data [8]byte
		putBE32(data[:], uint32(sec))
		putBE32(data[4:], uint32(nsec))
		if as == Ext8 {
			dst = append(dst, 0xc7, 8, 0)
			return append(dst, data[:]...)
		}
		out, err := msgp.AppendExtension(dst, &msgp.RawExtension{Type: 0, Data: data[:]})
		if err != nil {
			panic(err)
		}
		return out
	case Int:
		return msgp.AppendInt64(dst, sec)
	case Uint:
		return msgp.AppendUint64(dst, uint64(sec))
	case Float:
		return msgp.AppendFloat64(dst, float64(sec)+float64(nsec)/1e9)
	}
	panic(fmt.Sprintf("eventtest: unknown TimeAs %d", as))
}

// GroupStart returns a v2 group start marker (timestamp -1).
func GroupStart(meta map[string]any) Event {
	return Event{RawTime: msgp.AppendInt64(nil, -1), Meta: meta, Body: map[string]any{}}
}

// GroupEnd returns a v2 group end marker (timestamp -2).
func GroupEnd() Event {
	return Event{RawTime: msgp.AppendInt64(nil, -2), Body: map[string]any{}}
}

// AppendValue appends v as msgpack. It takes string (str), []byte (bin),
// int, int64, uint64, float64, float32, bool, nil, map[string]any (keys
// sorted), []any, time.Time (ext type 0) and msgp.Raw (written verbatim); any
// other type panics.
func AppendValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return msgp.AppendNil(dst)
	case string:
		return msgp.AppendString(dst, v)
	case []byte:
		return msgp.AppendBytes(dst, v)
	case int:
		return msgp.AppendInt64(dst, int64(v))
	case int64:
		return msgp.AppendInt64(dst, v)
	case uint64:
		return msgp.AppendUint64(dst, v)
	case float64:
		return msgp.AppendFloat64(dst, v)
	case float32:
		return msgp.AppendFloat32(dst, v)
	case bool:
		return msgp.AppendBool(dst, v)
	case time.Time:
		return AppendTime(dst, v, Ext)
	case msgp.Raw:
		return append(dst, v...)
	case []any:
		dst = msgp.AppendArrayHeader(dst, uint32(len(v)))
		for _, e := range v {
			dst = AppendValue(dst, e)
		}
		return dst
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = msgp.AppendMapHeader(dst, uint32(len(keys)))
		for _, k := range keys {
			dst = msgp.AppendString(dst, k)
			dst = AppendValue(dst, v[k])
		}
		return dst
	}
	panic(fmt.Sprintf("eventtest: cannot encode %T", v))
}

// Ordered encodes a map with its keys in the order given, duplicates kept,
// as Fluent Bit writes a record whose line was merged: kv alternates keys
// (strings) and values (anything AppendValue takes).
func Ordered(kv ...any) msgp.Raw {
	b := msgp.AppendMapHeader(nil, uint32(len(kv)/2))
	for i := 0; i+1 < len(kv); i += 2 {
		b = msgp.AppendString(b, kv[i].(string))
		b = AppendValue(b, kv[i+1])
	}
	return msgp.Raw(b)
}

// Marshal encodes v with AppendValue.
func Marshal(v any) []byte { return AppendValue(nil, v) }

func putBE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// FargateBody returns the i-th of a family of records shaped like those the
// EKS Fargate log router produces with a CRI parser and the kubernetes
// filter: log, stream, logtag, time and a kubernetes map. Encoded, each is
// about 1 KB. The same i always gives the same record.
func FargateBody(i int) map[string]any {
	app := apps[i%len(apps)]
	ns := namespaces[i%len(namespaces)]
	hash := hex(uint64(i%7)*0x9e3779b97f4a7c15, 10)
	pod := fmt.Sprintf("%s-%s-%s", app, hash, hex(uint64(i%13)*0xc2b2ae3d27d4eb4f, 5))
	dockerID := hex(uint64(i%13)*0xff51afd7ed558ccd+1, 64)
	image := fmt.Sprintf("123456789012.dkr.ecr.us-east-1.amazonaws.com/%s:v1.%d.%d", app, i%5, i%3)
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * 1234567 * time.Nanosecond)
	stream := "stdout"
	if i%4 == 3 {
		stream = "stderr"
	}
	return map[string]any{
		"log":    logLine(i, ts),
		"stream": stream,
		"logtag": "F",
		"time":   ts.Format(time.RFC3339Nano),
		"kubernetes": map[string]any{
			"pod_name":       pod,
			"namespace_name": ns,
			"pod_id":         uuid(uint64(i%13) + 1),
			"labels": map[string]any{
				"app":                               app,
				"pod-template-hash":                 hash,
				"eks.amazonaws.com/fargate-profile": "fp-" + ns,
			},
			"annotations": map[string]any{
				"CapacityProvisioned": "0.25vCPU 0.5GB",
				"Logging":             "LoggingEnabled",
				"kubernetes.io/psp":   "eks.privileged",
			},
			"host":            fmt.Sprintf("fargate-ip-10-0-%d-%d.ec2.internal", i%7, 10+i%200),
			"container_name":  app,
			"docker_id":       dockerID,
			"container_hash":  image[:strings.LastIndexByte(image, ':')] + "@sha256:" + hex(uint64(i%5)*0x94d049bb133111eb+7, 64),
			"container_image": image,
		},
	}
}

var (
	apps       = []string{"checkout", "payments", "frontend", "inventory", "search"}
	namespaces = []string{"shop", "payments", "default"}
	levels     = []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	paths      = []string{"/api/v1/orders", "/api/v1/cart/items", "/healthz", "/api/v2/search?q=red+shoes&page=2", "/api/v1/payments/authorize"}
)

func logLine(i int, ts time.Time) string {
	level := levels[i%len(levels)]
	path := paths[i%len(paths)]
	if i%3 == 0 {
		return fmt.Sprintf(`{"ts":"%s","level":"%s","msg":"request completed","method":"GET","path":"%s","status":%d,"duration_ms":%d.%03d,"trace_id":"%s","user_agent":"Mozilla/5.0 (X11; Linux x86_64) \"quoted\""}`,
			ts.Format(time.RFC3339Nano), strings.ToLower(level), path, 200+i%5, i%300, i%1000, hex(uint64(i)*0x9e3779b97f4a7c15, 32))
	}
	return fmt.Sprintf("%s %s [worker-%d] handled %s in %dms for tenant=acme-%d request_id=%s\tbytes=%d",
		ts.Format("2006-01-02T15:04:05.000Z07:00"), level, i%8, path, i%500, i%17, hex(uint64(i)*0xbf58476d1ce4e5b9, 16), 1000+i*37%9000)
}

// hex returns n hex digits derived deterministically from seed.
func hex(seed uint64, n int) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	x := seed | 1
	for sb.Len() < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		sb.WriteByte(digits[x&0xf])
	}
	return sb.String()
}

func uuid(seed uint64) string {
	h := hex(seed, 32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// RandomBody returns a random body map from r: strings (with escapes, non-
// ASCII and invalid UTF-8), bin, integers across all encodings, floats, bool,
// nil, nested maps and arrays. It never produces NaN.
func RandomBody(r *rand.Rand) map[string]any {
	return randomMap(r, 0)
}

func randomMap(r *rand.Rand, depth int) map[string]any {
	n := r.IntN(8)
	m := make(map[string]any, n)
	for range n {
		m[randomString(r)] = RandomValue(r, depth+1)
	}
	return m
}

// RandomValue returns a random value for AppendValue; depth limits nesting.
func RandomValue(r *rand.Rand, depth int) any {
	k := r.IntN(12)
	if depth >= 4 && k >= 10 {
		k = 0
	}
	switch k {
	case 0, 1:
		return randomString(r)
	case 2:
		return []byte(randomString(r))
	case 3:
		return int64(r.Uint64()) >> r.IntN(64)
	case 4:
		return r.Uint64() >> r.IntN(64)
	case 5:
		return (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(40)-20))
	case 6:
		return float32(r.NormFloat64())
	case 7:
		return r.IntN(2) == 0
	case 8:
		return nil
	case 9:
		return strconv.Itoa(r.IntN(1000))
	case 10:
		return randomMap(r, depth)
	default:
		a := make([]any, r.IntN(5))
		for i := range a {
			a[i] = RandomValue(r, depth+1)
		}
		return a
	}
}

var alphabet = []string{"a", "b", "Z", "_", "-", ".", " ", "0", "9", "\"", "\\", "\n", "\t", "\x00", "\x1f", "<", "&", "é", "日本", "🙂", "\u2028", "\xff", "\xc3"}

func randomString(r *rand.Rand) string {
	var sb strings.Builder
	n := r.IntN(12)
	if r.IntN(10) == 0 {
		n = 40 + r.IntN(300)
	}
	for range n {
		if r.IntN(3) > 0 {
			sb.WriteByte(byte('a' + r.IntN(26)))
		} else {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
	}
	return sb.String()
}
