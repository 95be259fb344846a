// Command echoplugin is a minimal Fluent Bit Go output plugin used only to
// test kubeship-host itself (test/host). It is built in the root module, so
// it uses the same fluent-bit-go version as the real plugin.
//
// Keys read in FLBPluginInit:
//
//	rc        int returned by every flush of this instance (default FLB_OK)
//	greeting  printed to stderr at init as "echo <instance-id>: greeting=<value>"
//	fail      when set (non-empty), init returns FLB_ERROR
//	probe     comma-separated keys whose values are printed at init as
//	          "echo <id>: key <k>=<value>" (empty when unset), to test lookups
//	sleep_ms  each flush sleeps this long (lets FlushConcurrent overlap)
//
// At init it also logs "echo <id> at level <l>" for l = 1..5 through the API's
// output_log_check and log_print.
//
// Flush checks that the chunk is readable, sums it and prints
// "echo <id>: flush tag=<tag> bytes=<n> sum=<s> total=<t> inflight_max=<m>".
// Exit prints "echo <id>: exit total=<t>".
package main

import (
	"C"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
)

type instance struct {
	id       int
	rc       int
	sleep    time.Duration
	total    atomic.Int64
	inflight atomic.Int32
	maxIn    atomic.Int32
}

var (
	mu     sync.Mutex
	nextID int
)

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) int {
	return output.FLBPluginRegister(def, "echo", "test echo plugin")
}

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) int {
	mu.Lock()
	id := nextID
	nextID++
	mu.Unlock()

	if output.FLBPluginConfigKey(plugin, "fail") != "" {
		fmt.Fprintf(os.Stderr, "echo %d: init failing on purpose\n", id)
		return output.FLB_ERROR
	}
	in := &instance{id: id, rc: output.FLB_OK}
	if s := output.FLBPluginConfigKey(plugin, "rc"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "echo %d: bad rc %q\n", id, s)
			return output.FLB_ERROR
		}
		in.rc = n
	}
	if s := output.FLBPluginConfigKey(plugin, "sleep_ms"); s != "" {
		n, _ := strconv.Atoi(s)
		in.sleep = time.Duration(n) * time.Millisecond
	}
	fmt.Fprintf(os.Stderr, "echo %d: greeting=%s\n", id, output.FLBPluginConfigKey(plugin, "greeting"))
	if probe := output.FLBPluginConfigKey(plugin, "probe"); probe != "" {
		for _, k := range strings.Split(probe, ",") {
			fmt.Fprintf(os.Stderr, "echo %d: key %s=%s\n", id, k, output.FLBPluginConfigKey(plugin, k))
		}
	}
	for l := 1; l <= 5; l++ {
		logf(plugin, l, fmt.Sprintf("echo %d at level %d", id, l))
	}
	fmt.Println("echo: this goes to stdout and must not break the protocol")
	output.FLBPluginSetContext(plugin, in)
	return output.FLB_OK
}

//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) int {
	in, ok := output.FLBPluginGetContext(ctx).(*instance)
	if !ok {
		fmt.Fprintln(os.Stderr, "echo: flush with unknown context")
		return output.FLB_ERROR
	}
	cur := in.inflight.Add(1)
	defer in.inflight.Add(-1)
	for {
		m := in.maxIn.Load()
		if cur <= m || in.maxIn.CompareAndSwap(m, cur) {
			break
		}
	}
	chunk := C.GoBytes(data, length) // touches every byte: the chunk must be readable
	var sum uint64
	for _, b := range chunk {
		sum += uint64(b)
	}
	time.Sleep(in.sleep)
	t := in.total.Add(int64(len(chunk)))
	fmt.Fprintf(os.Stderr, "echo %d: flush tag=%s bytes=%d sum=%d total=%d inflight_max=%d\n",
		in.id, C.GoString(tag), len(chunk), sum, t, in.maxIn.Load())
	return in.rc
}

//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) int {
	in, ok := output.FLBPluginGetContext(ctx).(*instance)
	if !ok {
		return output.FLB_ERROR
	}
	fmt.Fprintf(os.Stderr, "echo %d: exit total=%d\n", in.id, in.total.Load())
	return output.FLB_OK
}

//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	output.FLBPluginUnregister(def)
}

func main() {}
