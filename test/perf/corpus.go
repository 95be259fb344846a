package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/host"
)

// corpus is the benchmark's input: container log files of CRI lines as on
// a Fargate node, the pods' metadata for the kubernetes filter, and the
// router configuration users apply.
type corpus struct {
	dir, meta string
	router    fargate.Router
	pods      int
	bytes     int64
}

// writeCorpus writes n lines over 20 pods (5 copies of each fixture pod,
// in their namespaces), a third of them JSON, deterministic but for the
// timestamps, which end a minute ago.
func writeCorpus(work string, n int) (corpus, error) {
	root, err := host.RepoRoot()
	if err != nil {
		return corpus{}, err
	}
	c := corpus{dir: filepath.Join(work, "containers"), meta: filepath.Join(work, "meta")}
	if c.router, err = fargate.ReadRouter(filepath.Join(root, "conf", "k8s", "aws-logging.yaml")); err != nil {
		return c, err
	}
	var pods []fargate.Pod
	for copy := range 5 {
		for _, p := range fargate.Pods() {
			p.Name = fmt.Sprintf("%s%d", p.Name[:len(p.Name)-1], copy)
			p.ContainerID = fmt.Sprintf("%x", copy) + p.ContainerID[1:]
			pods = append(pods, p)
		}
	}
	c.pods = len(pods)
	for _, d := range []string{c.dir, c.meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return c, err
		}
	}
	if err := fargate.WriteMeta(c.meta, pods); err != nil {
		return c, err
	}
	start := time.Now().Add(-time.Minute - time.Duration(n)*time.Microsecond)
	for i, p := range pods {
		var buf []byte
		for j := i; j < n; j += len(pods) {
			l := fargate.Line{Time: start.Add(time.Duration(j) * time.Microsecond), Stream: "stdout",
				Text: fmt.Sprintf("10.0.%d.%d - - \"GET /api/v1/orders/%d?expand=items HTTP/1.1\" 200 %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" rt=0.%03d", j%7, j%250, j, 1000+j%9000, j%1000)}
			switch {
			case j%3 == 1:
				l.Text = fmt.Sprintf(`{"level":"info","ts":"%s","logger":"orders","msg":"order placed","order_id":%d,"items":%d,"trace_id":"%016x"}`,
					l.Time.UTC().Format(time.RFC3339Nano), j, j%9, uint64(j)*0x9e3779b97f4a7c15)
			case j%10 == 9:
				l.Stream = "stderr"
				l.Text = fmt.Sprintf(`{"level":"error","msg":"upstream timed out","upstream":"payments:8443","attempt":%d}`, j%4)
			}
			buf = fargate.AppendCRI(buf, l)
		}
		c.bytes += int64(len(buf))
		if err := os.WriteFile(filepath.Join(c.dir, p.LogFile()), buf, 0o644); err != nil {
			return c, err
		}
	}
	return c, nil
}
