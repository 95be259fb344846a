package main

/*
#include <stdlib.h>

// Mirrors the start of struct flb_api (include/fluent-bit/flb_api.h) and of
// struct flbgo_output_plugin (src/proxy/go/go.h) in Fluent Bit v4.2; the
// fluent-bit-go version in use does not expose log_print/output_log_check.
struct echo_api {
	void *output_get_property, *input_get_property;
	void *output_get_cmt_instance, *input_get_cmt_instance;
	void (*log_print)(int, const char *, int, const char *, ...);
	int (*input_log_check)(void *, int);
	int (*output_log_check)(void *, int);
};
struct echo_plugin {
	char *name;
	struct echo_api *api;
	void *o_ins;
	void *context;
};

static int echo_log(void *plugin, int level, const char *msg)
{
	struct echo_plugin *p = plugin;
	if (!p->api->output_log_check(p->o_ins, level)) {
		return 0;
	}
	p->api->log_print(level, __FILE__, __LINE__, "%s", msg);
	return 1;
}
*/
import "C"

import "unsafe"

// logf logs msg at level through Fluent Bit's API if the instance's level
// allows it (only valid during FLBPluginInit, like every plugin field).
func logf(plugin unsafe.Pointer, level int, msg string) {
	cs := C.CString(msg)
	defer C.free(unsafe.Pointer(cs))
	C.echo_log(plugin, C.int(level), cs)
}
