package event_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
	"github.com/tinylib/msgp/msgp"

	"github.com/kubeship/kubeship/internal/event"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/record"
)

// TestReaderMatchesFluentBitGo decodes generated chunks with our Reader and
// with fluent-bit-go's reflection-based decoder and compares event counts,
// timestamps and bodies.
func TestReaderMatchesFluentBitGo(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		for _, v2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed_%d_v2_%v", seed, v2), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 0x6b756265))
				events := make([]eventtest.Event, 1+rng.IntN(30))
				for i := range events {
					e := eventtest.Event{
						Time: time.Unix(1600000000+rng.Int64N(300000000), rng.Int64N(1e9)),
						Body: eventtest.RandomBody(rng),
					}
					if rng.IntN(4) == 0 {
						e.Body = eventtest.FargateBody(i)
					}
					if rng.IntN(5) == 0 {
						// fluent-bit-go takes unsigned integer seconds too
						e.TimeAs = eventtest.Uint
						e.Time = e.Time.Truncate(time.Second)
					}
					if v2 && rng.IntN(3) == 0 {
						e.Meta = eventtest.RandomBody(rng)
					}
					events[i] = e
				}
				chunk := eventtest.Chunk(v2, events...)

				type decoded struct {
					ns   int64
					body any
				}
				var ours, theirs []decoded
				var r event.Reader
				r.Reset(chunk)
				for r.Next() {
					e := r.Event()
					m, rest, err := msgp.ReadMapStrIntfBytes(e.Body, nil)
					if err != nil || len(rest) != 0 {
						t.Fatalf("our body %d does not decode: %v (rest %d)", len(ours), err, len(rest))
					}
					ours = append(ours, decoded{e.Time, normalize(m)})
				}
				if err := r.Err(); err != nil {
					t.Fatal(err)
				}

				dec := output.NewDecoder(unsafe.Pointer(&chunk[0]), len(chunk))
				for {
					ret, ts, rec := output.GetRecord(dec)
					if ret != 0 {
						break
					}
					var ns int64
					switch ts := ts.(type) {
					case output.FLBTime:
						ns = ts.UnixNano()
					case uint64:
						ns = int64(ts) * 1e9
					default:
						t.Fatalf("fluent-bit-go timestamp %T %v", ts, ts)
					}
					theirs = append(theirs, decoded{ns, normalize(rec)})
				}

				if len(ours) != len(theirs) || len(ours) != len(events) {
					t.Fatalf("ours %d events, fluent-bit-go %d, generated %d", len(ours), len(theirs), len(events))
				}
				for i := range ours {
					if ours[i].ns != theirs[i].ns {
						t.Errorf("event %d: time %d, fluent-bit-go %d", i, ours[i].ns, theirs[i].ns)
					}
					if !reflect.DeepEqual(ours[i].body, theirs[i].body) {
						t.Errorf("event %d: body\n ours %#v\ntheirs %#v", i, ours[i].body, theirs[i].body)
					}
				}
			})
		}
	}
}

// normalize converts decoded msgpack from either decoder to the same Go
// types: map[string]any, []any, string (for str and bin), int64 or uint64
// (above MaxInt64), float64, bool, nil.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = normalize(e)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(normalize(k))] = normalize(e)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = normalize(e)
		}
		return a
	case []byte:
		return string(v)
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v)
		}
		return v
	case float32:
		return float64(v)
	}
	return v
}

// BenchmarkReaderFluentBitGo is what fluent-bit-go's decoder, which
// decodes every record into Go maps by reflection, takes for
// BenchmarkReader's chunk; walk is our Reader with every body's entries
// visited (record.Each), the nearest to that work.
func BenchmarkReaderFluentBitGo(b *testing.B) {
	const n = 1000
	chunk := fargateChunk(n)
	b.Run("fluent-bit-go", func(b *testing.B) {
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		for b.Loop() {
			dec := output.NewDecoder(unsafe.Pointer(&chunk[0]), len(chunk))
			for {
				if ret, _, _ := output.GetRecord(dec); ret != 0 {
					break
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
	})
	b.Run("walk", func(b *testing.B) {
		var r event.Reader
		fields := 0
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(chunk)
			for r.Next() {
				_ = record.Each(r.Event().Body, func(k, v []byte) bool { fields++; return true })
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
	})
}
