package lokiserver

import (
	"context"
	"testing"
	"time"
)

// The server round trip itself is exercised by test/integration; this
// checks start-up time and stop, so a broken config shows up here first.
func TestStartsQuicklyAndStops(t *testing.T) {
	start := time.Now()
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ready in %s", time.Since(start))
	if _, err := s.Query(context.Background(), "", `{job="none"}`); err != nil {
		t.Error(err)
	}
	s.Stop()
}

// Shared starts one Loki for the same options and StopShared stops it.
func TestShared(t *testing.T) {
	t.Cleanup(StopShared)
	s := Shared(t, Options{})
	if again := Shared(t, Options{}); again != s {
		t.Error("a second Loki for the same options")
	}
	StopShared()
	if _, err := s.Query(context.Background(), "", `{job="none"}`); err == nil {
		t.Error("Loki still answers after StopShared")
	}
}
