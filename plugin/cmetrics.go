package main

/*
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "proxy.h"

// What kubeship calls of the Fluent Bit that loaded it to report through an
// output instance's cmetrics context: flb_output_get_cmt_instance and
// flb_output_name (src/flb_output.c), and cmetrics' functions
// (lib/cmetrics/include/cmetrics/cmt_{counter,gauge,histogram}.h), with the
// same signatures from Fluent Bit 2.0 to 5.1. Resolved once, by name.
static struct {
    void *(*get_cmt)(void *);
    const char *(*output_name)(void *);
    void *(*counter_create)(void *, char *, char *, char *, char *, int, char **);
    int (*counter_add)(void *, uint64_t, double, int, char **);
    void *(*gauge_create)(void *, char *, char *, char *, char *, int, char **);
    int (*gauge_set)(void *, uint64_t, double, int, char **);
    void *(*buckets_create_size)(double *, size_t);
    void *(*histogram_create)(void *, char *, char *, char *, char *, void *, int, char **);
    int (*histogram_observe)(void *, uint64_t, double, int, char **);
    int (*histogram_set_default)(void *, uint64_t, uint64_t *, double, uint64_t, int, char **);
} cmt;

// kubeship_cmt_resolve returns NULL, or the name of the first function the
// process does not export.
static const char *kubeship_cmt_resolve(void) {
    struct { const char *name; void **fn; } want[] = {
        {"flb_output_get_cmt_instance", (void **) &cmt.get_cmt},
        {"flb_output_name", (void **) &cmt.output_name},
        {"cmt_counter_create", (void **) &cmt.counter_create},
        {"cmt_counter_add", (void **) &cmt.counter_add},
        {"cmt_gauge_create", (void **) &cmt.gauge_create},
        {"cmt_gauge_set", (void **) &cmt.gauge_set},
        {"cmt_histogram_buckets_create_size", (void **) &cmt.buckets_create_size},
        {"cmt_histogram_create", (void **) &cmt.histogram_create},
        {"cmt_histogram_observe", (void **) &cmt.histogram_observe},
        {"cmt_histogram_set_default", (void **) &cmt.histogram_set_default},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if ((*want[i].fn = dlsym(RTLD_DEFAULT, want[i].name)) == NULL) {
            return want[i].name;
        }
    }
    return NULL;
}

// kubeship_cmt_of returns the instance's context, or NULL. Fluent Bit fills
// the API table's output_get_cmt_instance only when built with metrics (and
// leaves it uninitialised otherwise): it is called only when it is the
// function the binary exports under that name.
static void *kubeship_cmt_of(void *plugin, int *unset) {
    struct kubeship_plugin *p = plugin;
    *unset = p->api == NULL || p->api->output_get_cmt_instance != (void *) cmt.get_cmt;
    return *unset ? NULL : cmt.get_cmt(p->o_ins);
}

static const char *kubeship_output_name(void *plugin) {
    return cmt.output_name(((struct kubeship_plugin *) plugin)->o_ins);
}

static void *kubeship_counter(void *ctx, char *ns, char *sub, char *name, char *help, int n, char **keys) {
    return cmt.counter_create(ctx, ns, sub, name, help, n, keys);
}
static void *kubeship_gauge(void *ctx, char *ns, char *sub, char *name, char *help, int n, char **keys) {
    return cmt.gauge_create(ctx, ns, sub, name, help, n, keys);
}
static void *kubeship_histogram(void *ctx, char *ns, char *sub, char *name, char *help, double *b, size_t nb, int n, char **keys) {
    void *buckets = cmt.buckets_create_size(b, nb);
    return buckets == NULL ? NULL : cmt.histogram_create(ctx, ns, sub, name, help, buckets, n, keys);
}

// kubeship_record adds to a counter (kind 0), sets a gauge (1) or observes
// into a histogram (2); kind 3 creates a histogram's series at 0, zero
// holding its buckets' counts (one more than its bounds, for +Inf).
static int kubeship_record(int kind, void *m, uint64_t ts, double v, int n, char **vals, uint64_t *zero) {
    switch (kind) {
    case 0: return cmt.counter_add(m, ts, v, n, vals);
    case 1: return cmt.gauge_set(m, ts, v, n, vals);
    case 2: return cmt.histogram_observe(m, ts, v, n, vals);
    default: return cmt.histogram_set_default(m, ts, zero, 0, 0, n, vals);
    }
}
*/
import "C"

import (
	"errors"
	"sync"
	"time"
	"unsafe"

	"github.com/kubeship/kubeship/internal/metrics"
)

var cmtResolved = sync.OnceValue(func() string { return C.GoString(C.kubeship_cmt_resolve()) })

// fluentBitMetrics finds the instance's metrics context in the Fluent Bit
// that loaded the plugin, or says what that Fluent Bit lacks. Called in
// init only, like every read of plugin.
func fluentBitMetrics(plugin unsafe.Pointer) metrics.FluentBit {
	if apiLevel != apiFull {
		return metrics.FluentBit{Missing: "this Fluent Bit exports no functions to plugins"}
	}
	if missing := cmtResolved(); missing != "" {
		return metrics.FluentBit{Missing: "this Fluent Bit exports no " + missing}
	}
	var unset C.int
	ctx := C.kubeship_cmt_of(plugin, &unset)
	switch {
	case unset != 0:
		return metrics.FluentBit{Missing: "its plugin API has no output_get_cmt_instance: built without metrics"}
	case ctx == nil:
		return metrics.FluentBit{Missing: "the output instance has no metrics context"}
	}
	name := C.GoString(C.kubeship_output_name(plugin))
	if name == "" {
		return metrics.FluentBit{Missing: "the output instance has no name"}
	}
	return metrics.FluentBit{CMT: cmtContext{ctx}, Name: name}
}

// cmtContext is an instance's struct cmt (metrics.CMT).
type cmtContext struct{ p unsafe.Pointer }

// maxLabels bounds a metric's label keys (kubeship's have up to 5).
const maxLabels = 8

// What kubeship_record does, and what a cmtMetric is.
const (
	kindCounter = iota
	kindGauge
	kindHistogram
	kindHistogramZero
)

var (
	errNull  = errors.New("it returned NULL")
	errMinus = errors.New("it returned -1")
)

func (c cmtContext) Counter(ns, sub, name, help string, keys []string) (metrics.Metric, error) {
	return c.create(kindCounter, ns, sub, name, help, nil, keys)
}

func (c cmtContext) Gauge(ns, sub, name, help string, keys []string) (metrics.Metric, error) {
	return c.create(kindGauge, ns, sub, name, help, nil, keys)
}

func (c cmtContext) Histogram(ns, sub, name, help string, buckets []float64, keys []string) (metrics.Metric, error) {
	return c.create(kindHistogram, ns, sub, name, help, buckets, keys)
}

func (c cmtContext) create(kind int, ns, sub, name, help string, buckets []float64, keys []string) (metrics.Metric, error) {
	if len(keys) > maxLabels {
		return nil, errors.New("too many labels")
	}
	var ks [maxLabels]*C.char
	for i, k := range keys {
		ks[i] = cstr(k)
	}
	// cmetrics copies the names, help, keys and bounds.
	cns, csub, cname, chelp := C.CString(ns), C.CString(sub), C.CString(name), C.CString(help)
	defer func() {
		for _, s := range []*C.char{cns, csub, cname, chelp} {
			C.free(unsafe.Pointer(s))
		}
	}()
	var p unsafe.Pointer
	switch kind {
	case kindCounter:
		p = C.kubeship_counter(c.p, cns, csub, cname, chelp, C.int(len(keys)), &ks[0])
	case kindGauge:
		p = C.kubeship_gauge(c.p, cns, csub, cname, chelp, C.int(len(keys)), &ks[0])
	default:
		if len(buckets) == 0 {
			return nil, errors.New("no buckets")
		}
		p = C.kubeship_histogram(c.p, cns, csub, cname, chelp, (*C.double)(unsafe.Pointer(&buckets[0])), C.size_t(len(buckets)), C.int(len(keys)), &ks[0])
	}
	if p == nil {
		return nil, errNull
	}
	return &cmtMetric{kind: kind, p: p, keys: len(keys), buckets: len(buckets)}, nil
}

type cmtMetric struct {
	kind, keys, buckets int
	p                   unsafe.Pointer
}

// Series returns the function that records into one series; the label
// values stay as C strings for its life.
func (m *cmtMetric) Series(values ...string) (func(float64), error) {
	if len(values) != m.keys {
		return nil, errors.New("label values do not match the keys")
	}
	vals := new([maxLabels]*C.char)
	for i, v := range values {
		vals[i] = cstr(v)
	}
	n := C.int(len(values))
	kind := C.int(m.kind)
	if m.kind == kindHistogram { // its series at 0 first
		zero := make([]C.uint64_t, m.buckets+1)
		if C.kubeship_record(kindHistogramZero, m.p, now(), 0, n, &vals[0], &zero[0]) != 0 {
			return nil, errMinus
		}
	} else if C.kubeship_record(kind, m.p, now(), 0, n, &vals[0], nil) != 0 {
		return nil, errMinus
	}
	return func(v float64) { C.kubeship_record(kind, m.p, now(), C.double(v), n, &vals[0], nil) }, nil
}

func now() C.uint64_t { return C.uint64_t(time.Now().UnixNano()) }

// labels holds each label key and value as a C string, for good: there are a
// few dozen (names, destinations, status classes, results, drop reasons).
var labels struct {
	sync.Mutex
	m map[string]*C.char
}

func cstr(s string) *C.char {
	labels.Lock()
	defer labels.Unlock()
	if c, ok := labels.m[s]; ok {
		return c
	}
	if labels.m == nil {
		labels.m = map[string]*C.char{}
	}
	c := C.CString(s)
	labels.m[s] = c
	return c
}
