// Package metrics counts an output instance's records, requests, retries,
// flushes and drops, and times its requests. They go to Fluent Bit's own
// endpoint (/api/v2/metrics/prometheus) through the instance's cmetrics
// context when the Fluent Bit that loaded the plugin provides one
// (fluentbit.go), and to a Prometheus listener of kubeship's own when
// metrics_listen is set (listen.go). Instances that name the same address
// share one listener and registry and are told apart by labels.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics of an instance, as indexes of defs.
const (
	recordsSent = iota
	bytesSent
	requests
	retries
	flushes
	dropped
	filtered
	latency
	batch
	numMetrics
)

// defs are the metrics, named kubeship_<name> on metrics_listen and
// fluentbit_kubeship_<name> on Fluent Bit's endpoint.
var defs = [numMetrics]def{
	recordsSent: counter("records_sent_total", "Records the destination accepted."),
	bytesSent:   counter("bytes_sent_total", "Request body bytes (compressed) the destination accepted."),
	requests: counter("requests_total", "HTTP requests by answer: 2xx, 4xx, 5xx, or error when no answer came.").
		by("status_class", "2xx", "3xx", "4xx", "5xx", "error"),
	retries: counter("retries_total", "Requests sent again after a retryable failure."),
	flushes: counter("flushes_total", "Flushes by the answer given to Fluent Bit: ok, retry or error.").
		by("result", "ok", "retry", "error"),
	dropped:  counter("records_dropped_total", "Records not delivered, by reason (e.g. status_400, too_large).").by("reason"),
	filtered: counter("records_filtered_total", "Records their pod's log processing rules excluded."),
	latency:  histogram("request_duration_seconds", "HTTP request latency.", prometheus.ExponentialBuckets(0.005, 2, 12)),
	batch:    histogram("request_records", "Records per request.", prometheus.ExponentialBuckets(1, 4, 8)),
}

// def is one metric.
type def struct {
	name, help string
	buckets    []float64 // a histogram's; nil for a counter
	label      string    // the metric's own label, besides the instance's; "" for none
	values     []string  // values of label known from the start
}

func counter(name, help string) def { return def{name: name, help: help} }

func histogram(name, help string, buckets []float64) def {
	return def{name: name, help: help, buckets: buckets}
}

// by gives a metric its own label, and the values it has from the start.
func (d def) by(label string, values ...string) def {
	d.label, d.values = label, values
	return d
}

// Set holds one instance's metrics, wherever they go. The zero value (and
// nil) records nothing, so code paths need no "metrics on?" checks.
type Set struct {
	listen *listenSet    // metrics_listen's, or nil
	fb     *fluentBitSet // on Fluent Bit's endpoint, or nil
}

// record adds v to a counter or observes v in a histogram; label is the
// value of the metric's own label, if it has one.
func (s *Set) record(m int, label string, v float64) {
	if s.listen != nil {
		s.listen.record(m, label, v)
	}
	if s.fb != nil {
		s.fb.record(m, label, v)
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
	s.record(requests, class, 1)
	s.record(latency, "", d.Seconds())
	if status >= 200 && status < 300 {
		s.record(recordsSent, "", float64(records))
		s.record(bytesSent, "", float64(bytes))
		s.record(batch, "", float64(records))
	}
}

// Retries records n requests sent again.
func (s *Set) Retries(n int) {
	if s != nil && n > 0 {
		s.record(retries, "", float64(n))
	}
}

// Flush records the answer a flush gave Fluent Bit: ok, retry or error.
func (s *Set) Flush(result string) {
	if s != nil {
		s.record(flushes, result, 1)
	}
}

// Dropped records n records not delivered for reason.
func (s *Set) Dropped(reason string, n int) {
	if s != nil && n > 0 {
		s.record(dropped, reason, float64(n))
	}
}

// Filtered records n records left out by their pod's log processing rules.
func (s *Set) Filtered(n int) {
	if s != nil && n > 0 {
		s.record(filtered, "", float64(n))
	}
}

// Logger is what Open logs through (the instance's logger).
type Logger interface {
	Errorf(format string, args ...any)
	Warnf(format string, args ...any)
	Infof(format string, args ...any)
}

// Options say where an instance's metrics go.
type Options struct {
	// Instance is the instance's label on metrics_listen (kubeship.0, ...),
	// Destination its destination (loki or datadog).
	Instance, Destination string
	// Listen is metrics_listen's address; "" for none.
	Listen string
	// FluentBit is the instance's metrics context in Fluent Bit, or why
	// there is none.
	FluentBit FluentBit
	Log       Logger
}

// Open returns the instance's metrics: on Fluent Bit's endpoint when
// o.FluentBit has a context, on metrics_listen when o.Listen is set, or
// both; nil when neither. When Fluent Bit has no context, it logs one line
// saying why and where the metrics are instead. release, called at the
// instance's exit, stops every use of the context (Fluent Bit destroys it
// after) and releases the listener with its last instance.
func Open(o Options) (set *Set, release func(), err error) {
	set, release = &Set{}, func() {}
	fb := o.FluentBit
	if fb.CMT != nil {
		if set.fb, err = newFluentBitSet(fb, o.Destination); err != nil {
			fb.Missing = err.Error()
		} else {
			release = set.fb.close
		}
	}
	if o.Listen != "" {
		l, closeListen, err := listen(o.Listen, o.Instance, o.Destination, o.Log.Errorf)
		if err != nil {
			release()
			return nil, nil, err
		}
		set.listen = l
		closeFB := release
		release = func() { closeFB(); closeListen() }
	}
	switch {
	case set.fb != nil || fb.Missing == "":
	case o.Listen != "":
		o.Log.Infof("metrics: not on Fluent Bit's endpoint (%s): on metrics_listen %s only", fb.Missing, o.Listen)
	default:
		o.Log.Warnf("metrics: not on Fluent Bit's endpoint (%s), and metrics_listen is off: set it to serve them", fb.Missing)
	}
	if set.fb == nil && set.listen == nil {
		return nil, release, nil
	}
	return set, release, nil
}
