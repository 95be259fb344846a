package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// listenSet is one instance's metrics in a metrics_listen registry: its
// series, or its metric curried by its labels when the metric has one more.
type listenSet struct {
	counters [numMetrics]prometheus.Counter
	vecs     [numMetrics]*prometheus.CounterVec
	hists    [numMetrics]prometheus.Observer
}

func (l *listenSet) record(m int, label string, v float64) {
	switch {
	case l.hists[m] != nil:
		l.hists[m].Observe(v)
	case l.vecs[m] != nil:
		l.vecs[m].WithLabelValues(label).Add(v)
	default:
		l.counters[m].Add(v)
	}
}

// collectors are registered once per registry; each instance takes its
// children by label.
type collectors struct {
	counters [numMetrics]*prometheus.CounterVec
	hists    [numMetrics]*prometheus.HistogramVec
}

func newCollectors(reg prometheus.Registerer) *collectors {
	inst := []string{"instance", "destination"}
	c := &collectors{}
	for m, d := range defs {
		if d.buckets != nil {
			c.hists[m] = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "kubeship", Name: d.name, Help: d.help, Buckets: d.buckets}, inst)
			reg.MustRegister(c.hists[m])
			continue
		}
		keys := inst
		if d.label != "" {
			keys = append(inst[:2:2], d.label)
		}
		c.counters[m] = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kubeship", Name: d.name, Help: d.help}, keys)
		reg.MustRegister(c.counters[m])
	}
	registerBuildInfo(reg)
	return c
}

func (c *collectors) set(instance, destination string) *listenSet {
	l := prometheus.Labels{"instance": instance, "destination": destination}
	s := &listenSet{}
	for m, d := range defs {
		switch {
		case d.buckets != nil:
			s.hists[m] = c.hists[m].With(l)
		case d.label != "":
			s.vecs[m] = c.counters[m].MustCurryWith(l)
		default:
			s.counters[m] = c.counters[m].With(l)
		}
	}
	return s
}

// listener is one metrics_listen address.
type listener struct {
	reg *prometheus.Registry
	c   *collectors
	srv *http.Server
	ln  net.Listener
	// The Errorf of each instance using it, by a serial number: should
	// the listener stop serving, one of them says so (not the one that
	// opened it, which may have exited since).
	users map[int]func(format string, args ...any)
	next  int
}

var (
	mu        sync.Mutex
	listeners = map[string]*listener{}
)

// Listen returns the metrics of instance for destination, served on addr
// (host:port) at /metrics only. Close releases the listener with the last
// instance. errorf logs an error for the instance: that the listener
// stopped serving.
func Listen(addr, instance, destination string, errorf func(format string, args ...any)) (*Set, func(), error) {
	l, release, err := listen(addr, instance, destination, errorf)
	if err != nil {
		return nil, nil, err
	}
	return &Set{listen: l}, release, nil
}

func listen(addr, instance, destination string, errorf func(format string, args ...any)) (*listenSet, func(), error) {
	mu.Lock()
	defer mu.Unlock()
	l, ok := listeners[addr]
	if !ok {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("metrics_listen: %w", err)
		}
		reg := prometheus.NewRegistry()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		l = &listener{reg: reg, c: newCollectors(reg), ln: ln, users: map[int]func(string, ...any){},
			srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
		go l.serve(addr)
		listeners[addr] = l
	}
	id := l.next
	l.next++
	l.users[id] = errorf
	release := func() {
		mu.Lock()
		defer mu.Unlock()
		delete(l.users, id)
		if len(l.users) == 0 {
			_ = l.srv.Close()
			delete(listeners, addr)
		}
	}
	return l.c.set(instance, destination), release, nil
}

// serve serves /metrics until the last instance closes the listener, and
// logs through an instance still using it if it stops before (Accept failed
// for good).
func (l *listener) serve(addr string) {
	err := l.srv.Serve(l.ln)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return
	}
	mu.Lock()
	var errorf func(string, ...any)
	for _, f := range l.users {
		if f != nil {
			errorf = f
			break
		}
	}
	mu.Unlock()
	if errorf != nil {
		errorf("metrics_listen %s: no longer serving /metrics: %v", addr, err)
	}
}
