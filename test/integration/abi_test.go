package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/test/host"
)

// The plugin ABI of each Fluent Bit line: 5.1 (the def ends with
// config_map), 4.2 (it ends with event_type) and 1.9 (no event_type, and an
// API table of one field). The host places both structs just before an
// inaccessible page, so a write or read past the version's end crashes it.
func TestFluentBitABIs(t *testing.T) {
	s := loki(t)
	for _, tc := range []struct{ abi, registered string }{
		{"5.1", "event_type=0 config_map=none"},
		{"4.2", "event_type=0 config_map=absent"},
	} {
		t.Run(tc.abi, func(t *testing.T) {
			test := "abi_" + strings.ReplaceAll(tc.abi, ".", "_")
			h, err := host.StartOpts(t, host.Options{ABI: tc.abi},
				host.Instance{"url": s.PushURL(), "labels": "test=" + test})
			if err != nil {
				t.Fatal(err)
			}
			if want := "name=kubeship description=Kubernetes logs to Grafana Loki and Datadog " + tc.registered; !strings.HasSuffix(h.Registration(), want) {
				t.Errorf("registration %q, want it to end %q", h.Registration(), want)
			}
			if rc := h.Flush(0, tag, eventtest.Chunk(true, fargate(test, 5)...)); rc != host.FLB_OK {
				t.Fatalf("flush rc %d\n%s", rc, h.Logs())
			}
			if _, err := s.WaitFor(ctx, "", fmt.Sprintf(`{test=%q}`, test), 5, queryLimit); err != nil {
				t.Fatal(err)
			}
			h.Close()
			// Logged through the host's log_print, at its level, by the
			// object built for the host's architecture (make test-arm64).
			if !strings.Contains(h.Logs(), "[info] [output:kubeship:kubeship.0] destination loki") ||
				!strings.Contains(h.Logs(), " linux/"+host.Arch()+")") {
				t.Errorf("want the start-up line, from linux/%s, through Fluent Bit's logger:\n%s", host.Arch(), h.Logs())
			}
		})
	}
	// A Fluent Bit that exports no functions can't tell its version: kubeship
	// uses only what every version has and logs to stderr in Fluent Bit's
	// format.
	t.Run("hidden", func(t *testing.T) {
		h, err := host.StartOpts(t, host.Options{ABI: "hidden"}, host.Instance{"url": s.PushURL(), "labels": "test=abi_hidden"})
		if err != nil {
			t.Fatal(err)
		}
		if rc := h.Flush(0, tag, eventtest.Chunk(true, fargate("abi_hidden", 5)...)); rc != host.FLB_OK {
			t.Fatalf("flush rc %d\n%s", rc, h.Logs())
		}
		if _, err := s.WaitFor(ctx, "", `{test="abi_hidden"}`, 5, queryLimit); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^\[\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\] \[info\] \[output:kubeship:kubeship.0\] destination loki`).MatchString(h.Logs()) {
			t.Errorf("want the start-up line on stderr in Fluent Bit's format:\n%s", h.Logs())
		}
	})
	t.Run("1.9", func(t *testing.T) {
		_, err := host.StartOpts(t, host.Options{ABI: "1.9"}, host.Instance{"url": s.PushURL()})
		if err == nil {
			t.Fatal("init succeeded in a Fluent Bit 1.9 host; want a refusal naming the minimum version")
		}
		msg := err.Error()
		const want = "[error] [output:kubeship:kubeship.0] kubeship needs Fluent Bit 2.0 or newer"
		if !strings.Contains(msg, want) || strings.Count(msg, "[error] [output:kubeship") != 1 {
			t.Errorf("want exactly one line %q, got:\n%s", want, msg)
		}
		if !strings.Contains(msg, "failed to initialize") || strings.Contains(msg, "signal") {
			t.Errorf("want a clean init failure, not a crash:\n%s", msg)
		}
	})
}
