package metrics

import (
	"fmt"
	"runtime"
	"sync"
)

// FluentBit is an output instance's place in the metrics of the Fluent Bit
// that loaded the plugin, as the plugin found it.
type FluentBit struct {
	// CMT is the instance's cmetrics context; nil when that Fluent Bit
	// has none to give.
	CMT CMT
	// Name is the instance's name in Fluent Bit: its alias, else
	// kubeship.<id>, numbered among all its outputs. Fluent Bit labels the
	// instance's own metrics (fluentbit_output_*) name="<Name>"; so do
	// kubeship's there.
	Name string
	// Missing says why CMT is nil ("this Fluent Bit exports no
	// cmt_counter_create").
	Missing string
}

// CMT is an output instance's cmetrics context (struct cmt) in the Fluent
// Bit that loaded the plugin, whose metrics Fluent Bit serves on
// /api/v2/metrics/prometheus beside its own; the plugin calls that Fluent
// Bit's cmetrics functions (plugin/cmetrics.go). Calls on one CMT and its
// metrics never overlap here, as cmetrics before Fluent Bit 5.1 does not
// lock a metric's series.
type CMT interface {
	// Counter, Gauge and Histogram create the metric
	// <namespace>_<subsystem>_<name> with the label keys given.
	Counter(namespace, subsystem, name, help string, keys []string) (Metric, error)
	Gauge(namespace, subsystem, name, help string, keys []string) (Metric, error)
	Histogram(namespace, subsystem, name, help string, buckets []float64, keys []string) (Metric, error)
}

// Metric is a metric of a CMT.
type Metric interface {
	// Series creates the series of the label values given, in the order of
	// the metric's keys, at 0, and returns what records into it: adds to a
	// counter, sets a gauge, observes into a histogram.
	Series(values ...string) (func(v float64), error)
}

// Fluent Bit's names: fluentbit_<plugin>_<name> for a plugin's own metrics
// (as out_stackdriver's fluentbit_stackdriver_requests_total), labelled
// name="<instance>" first.
const (
	fluentBitNamespace = "fluentbit"
	fluentBitSubsystem = "kubeship"
)

// fluentBitSet is an instance's metrics in its cmetrics context. Its mutex
// keeps calls from overlapping, and close keeps them from happening once
// Fluent Bit may destroy the context.
type fluentBitSet struct {
	mu                sync.Mutex
	closed            bool
	name, destination string
	metrics           [numMetrics]Metric
	series            [numMetrics]func(float64)            // of the metrics without a label of their own
	by                [numMetrics]map[string]func(float64) // of the others, by its value
}

// newFluentBitSet creates the metrics in fb's context, each series known
// from the start at 0, as Fluent Bit does its own. The instance's init runs
// before Fluent Bit's engine starts copying the context (every second, for
// its endpoint, without a lock), so the only series created while it may be
// read are a drop reason's, at its first drop, as Fluent Bit's own plugins
// create theirs (out_stackdriver's by status). It fails when cmetrics
// refuses a metric.
func newFluentBitSet(fb FluentBit, destination string) (*fluentBitSet, error) {
	f := &fluentBitSet{name: fb.Name, destination: destination}
	keys := []string{"name", "destination"}
	for m, d := range defs {
		fail := func(err error) (*fluentBitSet, error) {
			return nil, fmt.Errorf("cmetrics refused %s_%s_%s: %w", fluentBitNamespace, fluentBitSubsystem, d.name, err)
		}
		var err error
		k := keys
		if d.label != "" {
			k = append(keys[:2:2], d.label)
		}
		if d.buckets != nil {
			f.metrics[m], err = fb.CMT.Histogram(fluentBitNamespace, fluentBitSubsystem, d.name, d.help, d.buckets, k)
		} else {
			f.metrics[m], err = fb.CMT.Counter(fluentBitNamespace, fluentBitSubsystem, d.name, d.help, k)
		}
		if err != nil {
			return fail(err)
		}
		if d.label == "" {
			if f.series[m], err = f.metrics[m].Series(fb.Name, destination); err != nil {
				return fail(err)
			}
			continue
		}
		f.by[m] = map[string]func(float64){}
		for _, v := range d.values {
			if f.by[m][v], err = f.metrics[m].Series(fb.Name, destination, v); err != nil {
				return fail(err)
			}
		}
	}
	version, abi := buildLabels()
	info, err := fb.CMT.Gauge(fluentBitNamespace, fluentBitSubsystem, "build_info", buildInfoHelp,
		[]string{"name", "version", "goversion", "fluentbit_abi", "arch"})
	if err != nil {
		return nil, fmt.Errorf("cmetrics refused %s_%s_build_info: %w", fluentBitNamespace, fluentBitSubsystem, err)
	}
	set, err := info.Series(fb.Name, version, runtime.Version(), abi, runtime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("cmetrics refused %s_%s_build_info: %w", fluentBitNamespace, fluentBitSubsystem, err)
	}
	set(1)
	return f, nil
}

func (f *fluentBitSet) record(m int, label string, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	add := f.series[m]
	if add == nil {
		if add = f.by[m][label]; add == nil {
			var err error
			if add, err = f.metrics[m].Series(f.name, f.destination, label); err != nil {
				return // cmetrics is out of memory: this value goes uncounted
			}
			f.by[m][label] = add
		}
	}
	add(v)
}

// close ends every use of the context: Fluent Bit destroys it after the
// instance's exit.
func (f *fluentBitSet) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}
