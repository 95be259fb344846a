package metrics

import (
	"net"
	"runtime"
	"strings"
	"testing"
)

// kubeship_build_info names the version and the Fluent Bit ABI the plugin
// set, the Go release and the architecture: one series whatever the number
// of instances.
func TestBuildInfo(t *testing.T) {
	SetBuild("0.1.0-dev.g0123456789ab", "2.0+")
	t.Cleanup(func() { SetBuild("dev", "unknown") })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, closeA, err := Listen(addr, "kubeship.0", "loki", t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	defer closeA()
	_, closeB, err := Listen(addr, "kubeship.1", "datadog", t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	defer closeB()
	body := scrape(t, addr)
	want := `kubeship_build_info{arch="` + runtime.GOARCH + `",fluentbit_abi="2.0+",goversion="` + runtime.Version() +
		`",version="0.1.0-dev.g0123456789ab"} 1`
	if strings.Count(body, "kubeship_build_info{") != 1 || !strings.Contains(body, want) {
		t.Errorf("want one series %s in:\n%s", want, body)
	}
}
