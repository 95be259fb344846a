package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/host"
)

// kubeship starts in Fluent Bit 2.0 and newer; an older one (1.9, as in
// aws-for-fluent-bit 2.x) gets one line naming the minimum version and a
// clean stop, never a crash (its plugin API is smaller: plugin/abi.go).
func TestVersionSupport(t *testing.T) {
	bin := fluentbit.Need(t)
	root, err := host.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	config := "[SERVICE]\n    Flush 1\n\n[INPUT]\n    Name dummy\n    Tag kube.version\n\n" +
		"[OUTPUT]\n    Name kubeship\n    Match kube.*\n    url http://127.0.0.1:1/loki/api/v1/push\n    Retry_Limit 1\n"
	p, err := fluentbit.Start(bin, filepath.Join(root, "build", "out_kubeship.so"), t.TempDir(), config)
	fluentbit.SkipIfMissing(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	major, err := fluentbit.Major(bin)
	if err != nil {
		t.Fatal(err)
	}
	if major >= 2 {
		if !p.WaitLog("[output:kubeship:kubeship.0] destination loki", 20*time.Second) {
			t.Fatalf("%s: kubeship did not start:\n%s", fluentbit.Version(bin), p.Logs())
		}
		return
	}
	const line = "[error] [output:kubeship:kubeship.0] kubeship needs Fluent Bit 2.0 or newer"
	for end := time.Now().Add(20 * time.Second); !p.Exited() && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	logs := p.Logs()
	if !p.Exited() || strings.Count(logs, line) != 1 || strings.Contains(logs, "SIGSEGV") || strings.Contains(logs, "signal") {
		t.Fatalf("%s: want one line %q and a clean stop, got (exited %t):\n%s", fluentbit.Version(bin), line, p.Exited(), logs)
	}
}
