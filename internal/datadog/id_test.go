package datadog

import "testing"

// appendDatadogID reads the lower 64 bits of an OpenTelemetry hex id with
// strconv.ParseUint, without allocating.
func TestAppendDatadogID(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"4bf92f3577b34da6a3ce929d0e0e4736", "11803532876627986230", true},
		{"00f067aa0ba902b7", "67667974448284343", true},
		{"00F067AA0BA902B7", "67667974448284343", true},
		{"ffffffffffffffff", "18446744073709551615", true},
		{"0000000000000000", "0", true},
		{"00f067aa0ba902b", "", false},  // 15 digits
		{"00f067aa0ba902bg", "", false}, // not hex
		{"+0f067aa0ba902b7", "", false},
		{"1234", "", false},
	} {
		got, ok := appendDatadogID([]byte("x="), []byte(tt.in))
		if want := "x=" + tt.want; ok != tt.ok || string(got) != want {
			t.Errorf("%q: %q, %v; want %q, %v", tt.in, got, ok, want, tt.ok)
		}
	}
	in, dst := []byte("4bf92f3577b34da6a3ce929d0e0e4736"), make([]byte, 0, 32)
	if n := testing.AllocsPerRun(100, func() { dst, _ = appendDatadogID(dst[:0], in) }); n != 0 {
		t.Errorf("%v allocations per id, want 0", n)
	}
}
