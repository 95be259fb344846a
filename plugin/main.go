// Command out_kubeship is the Fluent Bit output plugin `kubeship`, built with
// -buildmode=c-shared. This file only translates between Fluent Bit's Go
// proxy and internal/sink, where all logic lives.
package main

import "C"

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"

	"github.com/kubeship/kubeship/internal/metrics"
	"github.com/kubeship/kubeship/internal/sink"
)

// version is set by the Makefile (-ldflags -X main.version=...) from the
// file VERSION: 0.1.0 built from the tag v0.1.0, 0.1.0-dev.g<commit> from any
// other tree (the start-up line, the User-Agent and kubeship_build_info show it).
var version = "dev"

// instances numbers [OUTPUT] sections for log lines, in init order.
var instances atomic.Int32

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) (rc int) {
	defer recoverTo(stderrLog, "register", &rc, -1)
	startProfile()
	quietRuntime()
	routeGoLog()
	metrics.SetBuild(version, abiName())
	return register(def, "kubeship", "Kubernetes logs to Grafana Loki and Datadog")
}

// minVersion is the oldest Fluent Bit kubeship runs in: 1.9's plugin API
// has no logger, and kubeship is tested with 4.2 and 5.1 (README).
const minVersion = "kubeship needs Fluent Bit 2.0 or newer (tested: 4.2 and 5.1); this one is older " +
	"(its plugin API has no logger): upgrade it, e.g. aws-for-fluent-bit 2.x → 3.x"

// FLBPluginInit is called once per [OUTPUT] section. plugin is shared by all
// sections and overwritten before each init, so keys are read only here.
//
//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) (rc int) {
	name := fmt.Sprintf("kubeship.%d", instances.Add(1)-1)
	log := newLogger(plugin, name)
	defer recoverTo(log, "init", &rc, output.FLB_ERROR)
	if apiLevel == apiOld {
		log.Errorf("%s", minVersion)
		return output.FLB_ERROR
	}
	s, err := sink.New(keys{plugin}, log, version, name, fluentBitMetrics(plugin))
	if err != nil {
		log.Errorf("configuration: %v", err)
		return output.FLB_ERROR
	}
	setContext(plugin, s)
	return output.FLB_OK
}

//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.size_t, tag *C.char) (rc int) {
	s := sinkOf(ctx)
	if s == nil {
		// Not an instance of ours (any more): hand the chunk back rather
		// than drop it (FLB_ERROR would).
		stderrLog.Errorf("flush for an unknown instance (context %p): chunk handed back to Fluent Bit", ctx)
		return output.FLB_RETRY
	}
	defer recoverTo(s.Logger(), "flush", &rc, output.FLB_RETRY)
	// The chunk belongs to Fluent Bit and is read in place, during this call only.
	chunk := unsafe.Slice((*byte)(data), int(length))
	return int(s.Flush(C.GoString(tag), chunk))
}

//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) (rc int) {
	if s := releaseContext(ctx); s != nil {
		defer recoverTo(s.Logger(), "exit", &rc, output.FLB_ERROR)
		s.Close()
	}
	return output.FLB_OK
}

//export FLBPluginExit
func FLBPluginExit() int { return output.FLB_OK }

// FLBPluginUnregister is called once, after every instance's exit, before
// Fluent Bit unloads the plugin.
//
//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	var rc int
	defer recoverTo(stderrLog, "unregister", &rc, 0)
	stopProfile()
}

// keys reads configuration keys through Fluent Bit (config.Getter).
type keys struct{ plugin unsafe.Pointer }

func (k keys) Get(key string) string { return output.FLBPluginConfigKey(k.plugin, key) }

// recoverTo turns a panic into a logged error and a Fluent Bit return code:
// a Go panic must never unwind into Fluent Bit's C stack.
func recoverTo(log sink.Logger, what string, rc *int, code int) {
	if r := recover(); r != nil {
		stack := strings.ReplaceAll(string(debug.Stack()), "\n", " | ")
		log.Errorf("%s: internal error (please report it): %v: %s", what, r, stack)
		*rc = code
	}
}

func main() {}
