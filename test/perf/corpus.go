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

// writeCorpus writes n lines over pods pods, one container and one log
// file (so one tag) each: copies of the fixture pods, in their namespaces,
// n split evenly. A third of the lines are JSON; all is deterministic but
// for the timestamps, which end a minute ago.
func writeCorpus(work string, n, pods int) (corpus, error) {
	root, err := host.RepoRoot()
	if err != nil {
		return corpus{}, err
	}
	c := corpus{dir: filepath.Join(work, "containers"), meta: filepath.Join(work, "meta")}
	if c.router, err = fargate.ReadRouter(filepath.Join(root, "conf", "k8s", "fargate-loki.yaml")); err != nil {
		return c, err
	}
	fixtures := fargate.Pods()
	var all []fargate.Pod
	for i := range pods {
		p, copy := fixtures[i%len(fixtures)], i/len(fixtures)
		p.Name = fmt.Sprintf("%s%d", p.Name[:len(p.Name)-1], copy)
		p.ContainerID = fmt.Sprintf("%04x", copy) + p.ContainerID[4:]
		all = append(all, p)
	}
	c.pods = len(all)
	for _, d := range []string{c.dir, c.meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return c, err
		}
	}
	if err := fargate.WriteMeta(c.meta, all); err != nil {
		return c, err
	}
	start := time.Now().Add(-time.Minute - time.Duration(n)*time.Microsecond)
	for i, p := range all {
		var buf []byte
		for j := i; j < n; j += len(all) {
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
