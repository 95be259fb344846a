package main

/*
#include <sys/prctl.h>

// The loading thread's timer slack, kept while the Go runtime starts.
static unsigned long kubeship_slack = 0;

// Runs when Fluent Bit dlopens the plugin, before the Go runtime's own
// constructor starts the thread that starts sysmon: threads inherit their
// creator's timer slack. See quietRuntime for why.
__attribute__((constructor(101))) static void kubeship_slack_sysmon(void) {
	int old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (old > 0 && prctl(PR_SET_TIMERSLACK, 1000000UL, 0, 0, 0) == 0) {
		kubeship_slack = (unsigned long) old;
	}
}

// Gives Fluent Bit's loading thread its slack back, before it starts the
// engine and workers that inherit it.
static void kubeship_restore_slack(void) {
	if (kubeship_slack > 0) {
		prctl(PR_SET_TIMERSLACK, kubeship_slack, 0, 0, 0);
		kubeship_slack = 0;
	}
}
*/
import "C"

import (
	"os"
	"runtime"
)

// quietRuntime keeps the plugin's Go runtime from polling. Fluent Bit's
// threads call into Go, and a cgo callback returns to C still holding its
// P, as if in a system call. While a P is held or running, the runtime's
// sysmon thread polls every 20 µs (usleep(20)); with another P idle it
// waits 10 ms before taking the held one back, then polls at 20 µs again.
// In a perf profile of a real Fluent Bit that was a fifth of the plugin's
// CPU. Two changes, each measured with make bench (300k records, Workers 0
// and 2, same records/s):
//
//   - One P unless $GOMAXPROCS is set: 1.87 instead of 2.23 µs/record over
//     null to Loki, 3.33 instead of 3.53 to Datadog. With no idle P, sysmon
//     takes the P back at its next tick and sleeps. One P is plenty: the
//     plugin's Go work is about 1 µs/record, and a Fluent Bit engine feeds
//     far fewer than a million records a second.
//   - sysmon started with 1 ms of timer slack (the constructor above), so
//     its 20 µs sleeps last about 1 ms: 60% fewer wake-ups. Its other duties
//     (retaking Ps, preempting goroutines running over 10 ms) tolerate
//     that; Fluent Bit's own threads keep their slack.
//
// The tick is hard-coded in the runtime (golang/go#18236).
func quietRuntime() {
	C.kubeship_restore_slack()
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}
