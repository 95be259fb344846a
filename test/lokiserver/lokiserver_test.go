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
