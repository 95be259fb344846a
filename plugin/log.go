package main

/*
#include <stdlib.h>
#include "proxy.h"

static void *kubeship_api_of(void *plugin) { return ((struct kubeship_plugin *) plugin)->api; }
static void *kubeship_ins_of(void *plugin) { return ((struct kubeship_plugin *) plugin)->o_ins; }

// kubeship_log prints through Fluent Bit's logger when the instance's
// log_level allows it. Only for a Fluent Bit whose struct flb_api has these
// fields (apiFull): in older ones they lie past its end.
static void kubeship_log(void *api, void *ins, int level, const char *msg) {
    struct kubeship_api *a = api;
    if (a == NULL || a->log_print == NULL) {
        return;
    }
    if (a->output_log_check != NULL && !a->output_log_check(ins, level)) {
        return;
    }
    a->log_print(level, NULL, 0, "%s", msg);
}
*/
import "C"

import (
	"bytes"
	"fmt"
	stdlog "log"
	"os"
	"time"
	"unsafe"
)

// Fluent Bit's log levels (include/fluent-bit/flb_log.h).
const (
	levelError = 1
	levelWarn  = 2
	levelInfo  = 3
	levelDebug = 4
)

// logger writes through Fluent Bit's log_print, prefixed like Fluent Bit's
// own plugins' lines. The api and instance pointers stay valid for the
// instance's life; the plugin struct that carried them does not.
type logger struct {
	api, ins unsafe.Pointer
	prefix   string
}

func newLogger(plugin unsafe.Pointer, name string) *logger {
	return &logger{
		api:    C.kubeship_api_of(plugin),
		ins:    C.kubeship_ins_of(plugin),
		prefix: "[output:kubeship:" + name + "] ",
	}
}

// stderrLog is for calls that come with no instance (register, unregister,
// a flush for an unknown instance).
var stderrLog = &logger{prefix: "[output:kubeship] "}

func (l *logger) print(level int, format string, args []any) {
	if apiLevel != apiFull || l.api == nil {
		// No logger in the API table: write Fluent Bit's line format to
		// its stderr, at its default level (info).
		if level <= levelInfo {
			name := [...]string{levelError: "error", levelWarn: "warn", levelInfo: "info"}[level]
			fmt.Fprintf(os.Stderr, "[%s] [%s] %s%s\n", time.Now().Format("2006/01/02 15:04:05"),
				name, l.prefix, fmt.Sprintf(format, args...))
		}
		return
	}
	msg := C.CString(l.prefix + fmt.Sprintf(format, args...))
	defer C.free(unsafe.Pointer(msg))
	C.kubeship_log(l.api, l.ins, C.int(level), msg)
}

func (l *logger) Errorf(format string, args ...any) { l.print(levelError, format, args) }
func (l *logger) Warnf(format string, args ...any)  { l.print(levelWarn, format, args) }
func (l *logger) Infof(format string, args ...any)  { l.print(levelInfo, format, args) }
func (l *logger) Debugf(format string, args ...any) { l.print(levelDebug, format, args) }

// routeGoLog sends what Go's standard logger prints into Fluent Bit's line
// format instead of a bare line on its stderr: net/http's Transport logs
// there when a server answers on an idle connection.
func routeGoLog() {
	stdlog.SetFlags(0)
	stdlog.SetOutput(goLog{})
}

type goLog struct{}

func (goLog) Write(p []byte) (int, error) {
	stderrLog.Warnf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}
