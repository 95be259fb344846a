package faultinject

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kubeship/kubeship/test/ddintake"
)

// The proxy answers as set for count requests, then forwards again; what
// it forwards the intake stores.
func TestProxy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       Mode
		answers    []int // 0: no answer (connection reset); the mode holds for the first
		retryAfter string
		stored     int
	}{
		{"status_and_retry_after_for_count_requests", Mode{Status: 429, RetryAfter: "7"}, []int{429, 429, 202}, "7", 1},
		{"no_retry_after_unless_asked", Mode{Status: 503}, []int{503, 202}, "", 1},
		{"reset", Mode{Reset: true}, []int{0, 202}, "", 1},
		{"answer_lost_after_storing", Mode{LoseAnswer: true}, []int{0, 202}, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const key = "proxy0123456789abcdef0123456789a"
			s, err := ddintake.Start(ddintake.Options{APIKey: key})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			p, err := Start(strings.TrimSuffix(s.URL(), ddintake.Path))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			count := len(tc.answers) - 1
			if err := p.Set(tc.mode, count); err != nil {
				t.Fatal(err)
			}
			c := &http.Client{Transport: &http.Transport{}} // no connection shared with other tests
			for i, want := range tc.answers {
				req, _ := http.NewRequest(http.MethodPost, p.URL()+ddintake.Path, strings.NewReader(`[{"message":"m"}]`))
				req.Header.Set("DD-API-KEY", key)
				req.Header.Set("Content-Type", "application/json")
				got, retryAfter := 0, ""
				resp, err := c.Do(req)
				if err == nil {
					got, retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
					resp.Body.Close()
				}
				if got != want || i < count && retryAfter != tc.retryAfter {
					t.Fatalf("request %d: status %d (%v), Retry-After %q; want %d, %q", i, got, err, retryAfter, want, tc.retryAfter)
				}
			}
			if n := len(s.Entries()); n != tc.stored {
				t.Errorf("%d entries stored, want %d", n, tc.stored)
			}
		})
	}
}
