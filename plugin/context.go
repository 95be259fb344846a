package main

/*
#include <stdint.h>
#include "proxy.h"

// Fluent Bit hands remote_context back to the flush and exit callbacks and
// never reads through it, so an instance's number serves as the pointer.
static void kubeship_set_context(void *plugin, uintptr_t id) {
    ((struct kubeship_plugin *) plugin)->context->remote_context = (void *) id;
}
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/kubeship/kubeship/internal/sink"
)

// sinks holds each live [OUTPUT] instance by the context Fluent Bit passes
// to flush and exit. fluent-bit-go's own table (output.FLBPluginSetContext)
// never forgets an instance, so every hot reload, which exits all
// instances and starts new ones, would keep the old sinks and their
// buffers for good; here exit removes them.
var (
	sinks   sync.Map // uintptr → *sink.Sink
	lastCtx atomic.Uintptr
)

func setContext(plugin unsafe.Pointer, s *sink.Sink) {
	id := lastCtx.Add(1)
	sinks.Store(id, s)
	C.kubeship_set_context(plugin, C.uintptr_t(id))
}

func sinkOf(ctx unsafe.Pointer) *sink.Sink {
	s, _ := sinks.Load(uintptr(ctx))
	p, _ := s.(*sink.Sink)
	return p
}

// releaseContext forgets an instance at its exit.
func releaseContext(ctx unsafe.Pointer) *sink.Sink {
	s, _ := sinks.LoadAndDelete(uintptr(ctx))
	p, _ := s.(*sink.Sink)
	return p
}
