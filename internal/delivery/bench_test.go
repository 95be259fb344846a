package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// stored answers every request 204.
type stored struct{}

func (stored) Send(context.Context, Request) Response { return Response{Status: 204} }

// BenchmarkDeliver is what delivery costs a flush beyond sending: one
// request (a small chunk, the common case), a group of 8 flushes joined,
// and one flush of 3 tenants.
func BenchmarkDeliver(b *testing.B) {
	d := &Deliverer{Sender: stored{}, Budget: time.Minute, Join: joinBodies}
	tenant := func(i int) Request { return sized("x", 1, fmt.Sprint("t", i%3)) }
	for _, bb := range []struct {
		name    string
		members [][]Request
	}{
		{"one_request", [][]Request{{sized("x", 1, "")}}},
		{"group_of_8", [][]Request{{sized("x", 1, "")}, {sized("x", 1, "")}, {sized("x", 1, "")}, {sized("x", 1, "")},
			{sized("x", 1, "")}, {sized("x", 1, "")}, {sized("x", 1, "")}, {sized("x", 1, "")}}},
		{"three_tenants", [][]Request{{tenant(0), tenant(1), tenant(2)}}},
	} {
		members := make([]Member, len(bb.members))
		for i, reqs := range bb.members {
			members[i] = Member{Key: constKey(uint64(i)), Requests: reqs}
		}
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if out, _ := d.DeliverGroup(context.Background(), members, 1<<20); out.Result != OK {
					b.Fatal(out)
				}
			}
		})
	}
}
