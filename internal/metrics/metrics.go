// Package metrics exposes an output instance's Prometheus metrics
// (metrics_listen, off by default). Instances that name the same address
// share one listener and registry and are told apart by labels.
package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Set holds one instance's metrics. The zero value (and nil) records nothing,
// so code paths need no "metrics on?" checks.
type Set struct {
	recordsSent prometheus.Counter
	bytesSent   prometheus.Counter
	requests    *prometheus.CounterVec
	retries     prometheus.Counter
	flushes     *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	filtered    prometheus.Counter
	latency     prometheus.Observer
	batch       prometheus.Observer
}

// collectors are registered once per registry; each instance takes its
// children by label.
type collectors struct {
	recordsSent, bytesSent, retries *prometheus.CounterVec
	filtered                        *prometheus.CounterVec
	requests, flushes, dropped      *prometheus.CounterVec
	latency, batch                  *prometheus.HistogramVec
}

func newCollectors(reg prometheus.Registerer) *collectors {
	inst := []string{"instance", "destination"}
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kubeship", Name: name, Help: help}, append(inst, extra...))
		reg.MustRegister(v)
		return v
	}
	histogram := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "kubeship", Name: name, Help: help, Buckets: buckets}, inst)
		reg.MustRegister(v)
		return v
	}
	registerBuildInfo(reg)
	return &collectors{
		recordsSent: counter("records_sent_total", "Records the destination accepted."),
		bytesSent:   counter("bytes_sent_total", "Request body bytes (compressed) the destination accepted."),
		requests:    counter("requests_total", "HTTP requests by answer: 2xx, 4xx, 5xx, or error when no answer came.", "status_class"),
		retries:     counter("retries_total", "Requests sent again after a retryable failure."),
		flushes:     counter("flushes_total", "Flushes by the answer given to Fluent Bit: ok, retry or error.", "result"),
		dropped:     counter("records_dropped_total", "Records not delivered, by reason (e.g. status_400, too_large).", "reason"),
		filtered:    counter("records_filtered_total", "Records their pod's log processing rules excluded."),
		latency:     histogram("request_duration_seconds", "HTTP request latency.", prometheus.ExponentialBuckets(0.005, 2, 12)),
		batch:       histogram("request_records", "Records per request.", prometheus.ExponentialBuckets(1, 4, 8)),
	}
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
// (host:port) at /metrics. Close releases the listener with the last instance.
// errorf logs an error for the instance: that the listener stopped serving.
func Listen(addr, instance, destination string, errorf func(format string, args ...any)) (*Set, func(), error) {
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

func (c *collectors) set(instance, destination string) *Set {
	l := prometheus.Labels{"instance": instance, "destination": destination}
	return &Set{
		recordsSent: c.recordsSent.With(l),
		bytesSent:   c.bytesSent.With(l),
		requests:    c.requests.MustCurryWith(l),
		retries:     c.retries.With(l),
		flushes:     c.flushes.MustCurryWith(l),
		dropped:     c.dropped.MustCurryWith(l),
		filtered:    c.filtered.With(l),
		latency:     c.latency.With(l),
		batch:       c.batch.With(l),
	}
}

// Request records one HTTP attempt: status 0 when no answer came.
func (s *Set) Request(status int, d time.Duration, records, bytes int) {
	if s == nil {
		return
	}
	class := "error"
	if status > 0 {
		class = strconv.Itoa(status/100) + "xx"
	}
	s.requests.WithLabelValues(class).Inc()
	s.latency.Observe(d.Seconds())
	if status >= 200 && status < 300 {
		s.recordsSent.Add(float64(records))
		s.bytesSent.Add(float64(bytes))
		s.batch.Observe(float64(records))
	}
}

// Retries records n requests sent again.
func (s *Set) Retries(n int) {
	if s != nil && n > 0 {
		s.retries.Add(float64(n))
	}
}

// Flush records the answer a flush gave Fluent Bit: ok, retry or error.
func (s *Set) Flush(result string) {
	if s != nil {
		s.flushes.WithLabelValues(result).Inc()
	}
}

// Dropped records n records not delivered for reason.
func (s *Set) Dropped(reason string, n int) {
	if s != nil && n > 0 {
		s.dropped.WithLabelValues(reason).Add(float64(n))
	}
}

// Filtered records n records left out by their pod's log processing rules.
func (s *Set) Filtered(n int) {
	if s != nil && n > 0 {
		s.filtered.Add(float64(n))
	}
}
