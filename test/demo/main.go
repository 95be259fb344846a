// Command demo is `make demo`: it starts a real Loki on 127.0.0.1, sends
// Fargate-shaped container logs through out_kubeship.so — with a real Fluent
// Bit (tail → CRI parser → kubernetes filter → kubeship) when $FLUENT_BIT or
// fluent-bit on PATH is one, else with the C test host — and prints the
// streams that arrived, read back with LogQL.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/loki/lokitest"
	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/lokiserver"
)

func main() {
	lokiBin := flag.String("loki", "build/loki", "Loki binary (make loki)")
	so := flag.String("so", "build/out_kubeship.so", "the plugin (make build)")
	hostBin := flag.String("host", "build/kubeship-host", "C test host, used when no Fluent Bit is found")
	perPod := flag.Int("lines", 3, "lines per pod")
	flag.Parse()
	if err := run(*lokiBin, *so, *hostBin, *perPod); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(lokiBin, so, hostBin string, perPod int) error {
	dir, err := os.MkdirTemp("", "kubeship-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Println("starting Loki on 127.0.0.1 ...")
	loki, err := lokiserver.Start(lokiserver.Options{Bin: lokiBin})
	if err != nil {
		return err
	}
	defer loki.Stop()
	fmt.Println("Loki ready at", loki.URL)

	pods := fargate.Pods()
	now := time.Now().Add(-10 * time.Second)
	lines := map[string][]fargate.Line{}
	total := 0
	for _, p := range pods {
		for i := range perPod {
			l := fargate.Line{Time: now.Add(time.Duration(total) * time.Millisecond), Stream: "stdout",
				Text: fmt.Sprintf("GET /api/%s/%d 200 %dms", p.Container, i, 3+i)}
			if i%2 == 1 {
				l.Stream, l.Text = "stderr", fmt.Sprintf(`{"level":"error","msg":"upstream timeout","attempt":%d}`, i)
			}
			lines[p.Name] = append(lines[p.Name], l)
			total++
		}
	}

	output := map[string]string{"url": loki.PushURL(), "labels": "cluster=demo"}
	if bin, err := fluentbit.Find(); err == nil {
		fmt.Printf("running %s (%s): tail → CRI parser → kubernetes filter → kubeship\n", bin, fluentbit.Version(bin))
		err = viaFluentBit(bin, so, dir, pods, lines, output)
		if err != nil {
			return err
		}
	} else {
		fmt.Printf("Fluent Bit not found (%v)\nusing the C test host %s, which loads the plugin as Fluent Bit does, with records shaped as the Fargate router's\n", err, hostBin)
		if err := viaHost(hostBin, so, dir, pods, lines, output); err != nil {
			return err
		}
	}

	streams, err := loki.WaitFor(context.Background(), "", `{cluster="demo"}`, total, 30*time.Second)
	if err != nil {
		return err
	}
	print(streams)
	return nil
}

func viaFluentBit(bin, so, dir string, pods []fargate.Pod, lines map[string][]fargate.Line, output map[string]string) error {
	logs, meta := filepath.Join(dir, "containers"), filepath.Join(dir, "meta")
	for _, d := range []string{logs, meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := fargate.WriteMeta(meta, pods); err != nil {
		return err
	}
	for _, p := range pods {
		if err := fargate.WriteLogs(logs, p, lines[p.Name]); err != nil {
			return err
		}
	}
	// The router's own filters and parsers, as users apply them.
	router, err := fargate.ReadRouter("conf/k8s/fargate-loki.yaml")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "parsers.conf"), []byte(router.Parsers), 0o644); err != nil {
		return err
	}
	conf := "[SERVICE]\n    Flush 1\n    Log_Level info\n    Parsers_File parsers.conf\n\n" +
		fargate.TailInput(logs) + "\n" + fargate.OfflineKubernetes(router.Filters, meta) + "\n" +
		"[OUTPUT]\n    Name kubeship\n    Match kube.*\n"
	for k, v := range output {
		conf += "    " + k + " " + v + "\n"
	}
	fb, err := fluentbit.Start(bin, so, dir, conf)
	if err != nil {
		return err
	}
	defer func() {
		_ = fb.Stop(5 * time.Second)
		fmt.Println("\nFluent Bit's log (kubeship lines):")
		for _, l := range strings.Split(fb.Logs(), "\n") {
			if strings.Contains(l, "kubeship") {
				fmt.Println("  " + l)
			}
		}
	}()
	if !fb.WaitLog("[output:kubeship", 10*time.Second) {
		return fmt.Errorf("kubeship did not start in Fluent Bit:\n%s", fb.Logs())
	}
	return nil
}

// viaHost drives the C test host's line protocol (test/host/host.c):
// one `flush` command per pod's chunk, then `exit`.
func viaHost(hostBin, so, dir string, pods []fargate.Pod, lines map[string][]fargate.Line, output map[string]string) error {
	args := []string{so, "-i"}
	for k, v := range output {
		args = append(args, "-k", k+"="+v)
	}
	cmd := exec.Command(hostBin, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	answers := bufio.NewScanner(stdout)
	expect := func(prefix string) error {
		if !answers.Scan() {
			return fmt.Errorf("test host stopped: %v", cmd.Wait())
		}
		if a := answers.Text(); !strings.HasPrefix(a, prefix) {
			return fmt.Errorf("test host answered %q, want %q", a, prefix)
		}
		return nil
	}
	if err := expect("registered"); err != nil {
		return err
	}
	if err := expect("init 0 rc=1"); err != nil {
		return err
	}
	for i, p := range pods {
		var events []eventtest.Event
		for _, l := range lines[p.Name] {
			events = append(events, eventtest.Event{Time: l.Time, Body: fargate.Record(p, l)})
		}
		file := filepath.Join(dir, fmt.Sprintf("chunk-%d", i))
		if err := os.WriteFile(file, eventtest.Chunk(true, events...), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdin, "flush 0 %s %s\n", p.Tag(), file)
		if err := expect("flush 1"); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdin, "exit")
	if err := expect("exit"); err != nil {
		return err
	}
	stdin.Close()
	return cmd.Wait()
}

func print(streams []lokiserver.Stream) {
	sort.Slice(streams, func(i, j int) bool { return fmt.Sprint(streams[i].Labels) < fmt.Sprint(streams[j].Labels) })
	n := 0
	for _, st := range streams {
		n += len(st.Entries)
	}
	fmt.Printf("\n%d entries arrived in %d streams (LogQL {cluster=\"demo\"}):\n", n, len(streams))
	for _, st := range streams {
		fmt.Println("\n" + lokitest.Labels(st.Labels))
		for _, e := range st.Entries {
			fmt.Printf("  %s  %s\n      %s\n", e.Time.UTC().Format(time.RFC3339Nano), e.Line, lokitest.Labels(e.Metadata))
		}
	}
}
