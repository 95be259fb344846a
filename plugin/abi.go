package main

/*
#include <dlfcn.h>
#include <stdlib.h>
#include "proxy.h"

// Fluent Bit links its binary with -rdynamic, so a plugin can look up the
// functions it exports. flb_output_log_check came with Fluent Bit 2.0, in
// the same release that grew struct flb_api from one field
// (output_get_property) to the logging functions kubeship's logger calls.
static int kubeship_api_level(void) {
    if (dlsym(RTLD_DEFAULT, "flb_output_log_check") != NULL) {
        return 2;
    }
    if (dlsym(RTLD_DEFAULT, "flb_output_get_property") != NULL) {
        return 1;
    }
    return 0;
}
*/
import "C"

import (
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
)

// What the loading Fluent Bit's struct flb_api holds; 0 when it exports no
// functions to tell (then only output_get_property, which all have, is used).
const (
	apiOld  = 1 // before 2.0: only output_get_property
	apiFull = 2 // 2.0 and later: log_print, output_log_check, ...
)

var apiLevel = int(C.kubeship_api_level())

// abiName names apiLevel for kubeship_build_info.
func abiName() string {
	switch apiLevel {
	case apiFull:
		return "2.0+"
	case apiOld:
		return "pre-2.0"
	}
	return "unknown"
}

// register fills def as fluent-bit-go's output.FLBPluginRegister does, but
// without writing event_type: that field is past the end of the def in
// every Fluent Bit before 4.2.3, and writing it corrupts the heap there.
func register(def unsafe.Pointer, name, description string) int {
	d := (*C.struct_kubeship_def)(def)
	d._type = output.FLB_PROXY_OUTPUT_PLUGIN
	d.proxy = output.FLB_PROXY_GOLANG
	d.flags = 0
	d.name = C.CString(name)
	d.description = C.CString(description)
	return 0
}
