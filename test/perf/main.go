// Command perf is `make bench`: a side-by-side benchmark of Fluent Bit
// outputs. A real Fluent Bit runs the EKS Fargate router's pipeline (tail →
// CRI parser → kubernetes filter, from conf/k8s/fargate-loki.yaml) over a
// deterministic corpus of Fargate-shaped container logs, once per output —
// null (the baseline), built-in loki, loki + gzip, datadog, the grafana-loki
// Go plugin, kubeship to Loki and to Datadog — into one counting HTTP sink
// that decodes every request and checks that exactly N records arrived.
// Runs are interleaved and repeated; the table has medians. With -scale
// (`make bench-scale`) it measures production's shape instead: many
// containers, one tag each, and instructions per record under valgrind
// (scale.go).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/lokiserver"
	"github.com/kubeship/kubeship/test/proc"
)

// output is one contestant: its [OUTPUT] section (%d is the sink's port)
// and the Go plugin it needs, if any.
type output struct {
	name, section, plugin string
}

func outputs(kubeship, grafanaLoki string) []output {
	const loki = "    Name loki\n    Match kube.*\n    Host 127.0.0.1\n    Port %d\n    labels job=bench, namespace=$kubernetes['namespace_name'], container=$kubernetes['container_name']\n    remove_keys kubernetes\n    line_format json\n"
	const ks = "    Name kubeship\n    Match kube.*\n"
	return []output{
		{"null", "    Name null\n    Match kube.*\n", ""},
		{"loki", loki, ""},
		{"loki gzip", loki + "    compress gzip\n", ""},
		{"datadog gzip", "    Name datadog\n    Match kube.*\n    Host 127.0.0.1\n    Port %d\n    TLS off\n    compress gzip\n    apikey bench\n    dd_service bench\n    dd_source bench\n", ""},
		{"grafana-loki", "    Name grafana-loki\n    Match kube.*\n    Url http://127.0.0.1:%d/loki/api/v1/push\n    Labels {job=\"bench\"}\n    LabelKeys container_name\n    RemoveKeys kubernetes\n    BatchWait 1s\n    BatchSize 1048576\n    LineFormat json\n", grafanaLoki},
		{"kubeship loki", ks + "    url http://127.0.0.1:%d/loki/api/v1/push\n", kubeship},
		{"kubeship loki w2", ks + "    Workers 2\n    url http://127.0.0.1:%d/loki/api/v1/push\n", kubeship},
		{"kubeship datadog", ks + "    destination datadog\n    apikey bench\n    url http://127.0.0.1:%d/api/v2/logs\n", kubeship},
		{"kubeship datadog w2", ks + "    Workers 2\n    destination datadog\n    apikey bench\n    url http://127.0.0.1:%d/api/v2/logs\n", kubeship},
	}
}

var showThreads bool

func main() {
	n := flag.Int("n", 200000, "records")
	repeat := flag.Int("repeat", 3, "runs of each output, interleaved")
	only := flag.String("only", "", "comma-separated outputs to run (null is always run)")
	so := flag.String("so", "build/out_kubeship.so", "the kubeship plugin")
	gl := flag.String("grafana-loki", "build/perf/out_grafana_loki.so", "the grafana-loki plugin (make bench builds it)")
	out := flag.String("out", "build/perf", "where results.md and cpu.svg go")
	flag.BoolVar(&showThreads, "threads", false, "print each run's CPU and context switches per thread")
	scale := flag.Bool("scale", false, "scale mode: production's shape, many containers with one tag each (make bench-scale)")
	scales := flag.String("scales", "20,200,2000", "scale mode: container counts, N split evenly over them")
	cgN := flag.Int("instr-n", 20000, "scale mode: records of each run under valgrind counting instructions (0: none)")
	cgAt := flag.Int("instr-scale", 20, "scale mode: containers of the runs under valgrind")
	huge := flag.Bool("huge", true, "scale mode: then Fluent Bit's memory around one 32 MB record, after 20,000 records at the first scale (-repeat 0: only that)")
	flag.Parse()
	bin, err := fluentbit.Find()
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		os.Exit(2)
	}
	if *scale {
		sc := scaleConfig{n: *n, repeat: *repeat, callgrindN: *cgN, callgrindAt: *cgAt, only: *only, huge: *huge}
		if sc.scales, err = parseScales(*scales); err == nil {
			err = runScale(bin, *so, *out, sc)
		}
	} else {
		err = run(bin, *so, *gl, *out, *only, *n, *repeat)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		os.Exit(1)
	}
}

func run(bin, so, gl, outDir, only string, n, repeat int) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kubeship-perf-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	corpus, err := writeCorpus(work, n, 20)
	if err != nil {
		return err
	}
	s, err := startSink()
	if err != nil {
		return err
	}
	defer s.close()

	var chosen []output
	for _, o := range outputs(so, gl) {
		if !picked(o.name, only) {
			continue
		}
		if o.plugin != "" {
			if _, err := os.Stat(o.plugin); err != nil {
				fmt.Printf("skipping %s: %s missing\n", o.name, o.plugin)
				continue
			}
		}
		chosen = append(chosen, o)
	}
	fmt.Printf("%s (%s), %d records (%.0f MB of CRI lines, %d pods), %d runs of each\n",
		bin, fluentbit.Version(bin), n, float64(corpus.bytes)/1e6, corpus.pods, repeat)
	results := map[string][]result{}
	for r := 0; r < repeat; r++ {
		for _, o := range chosen {
			res, err := runOne(bin, work, corpus, s, o, n, runOpts{})
			if err != nil {
				return fmt.Errorf("%s: %w", o.name, err)
			}
			fmt.Printf("  run %d %-20s cpu %6.2fs wall %6.2fs rss %4.0f MB delivered %d/%d\n", r+1, o.name, res.cpu, res.wall, res.rssMB, res.delivered, n)
			results[o.name] = append(results[o.name], res)
		}
	}
	table := report(chosen, results, n)
	fmt.Println("\n" + table)
	if err := os.WriteFile(filepath.Join(outDir, "results.md"), []byte(table), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, "cpu.svg"), []byte(chart(chosen, results, n)), 0o644)
}

// picked reports whether -only (comma-separated names) picks an output;
// null, the baseline, always runs.
func picked(name, only string) bool {
	return name == "null" || only == "" || slices.Contains(strings.Split(only, ","), name)
}

// result is one run's measurements.
type result struct {
	cpu, wall, rssMB float64
	delivered        int
	requests         int
	wire             int64
	instructions     int64 // under valgrind: Fluent Bit's whole process
	huge             hugeUse
}

// runOpts are runOne's variants.
type runOpts struct {
	callgrindOut string // under valgrind (see callgrindWrapper): its output file
	huge         bool   // one 32 MB record after the corpus (see hugeRecord)
}

// runOne runs Fluent Bit over the corpus with one output until every
// record is acknowledged by it (Fluent Bit's own output counters), then
// reads its CPU time and peak RSS from /proc. With opt.callgrindOut, bin is
// Fluent Bit under valgrind (see callgrindWrapper): runOne stops it and
// reads the instructions it executed from that file instead. With
// opt.huge, it then measures memory around one 32 MB record.
func runOne(bin, work string, c corpus, s *sink, o output, n int, opt runOpts) (result, error) {
	dir, err := os.MkdirTemp(work, "run-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "parsers.conf"), []byte(c.router.Parsers), 0o644); err != nil {
		return result{}, err
	}
	port, err := lokiserver.FreePort()
	if err != nil {
		return result{}, err
	}
	section := o.section
	if strings.Contains(section, "%d") {
		section = fmt.Sprintf(section, s.port())
	}
	conf := fmt.Sprintf("[SERVICE]\n    Flush 1\n    Grace 5\n    Log_Level warn\n    Parsers_File parsers.conf\n"+
		"    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port %d\n\n", port) +
		fargate.TailInput(c.dir) + "\n" + hugeInput(dir, opt.huge) + fargate.OfflineKubernetes(c.router.Filters, c.meta) + "\n[OUTPUT]\n" + section
	s.reset()
	start := time.Now()
	fb, err := fluentbit.Start(bin, o.plugin, dir, conf)
	if err != nil {
		return result{}, err
	}
	defer func() { _ = fb.Stop(5 * time.Second) }()
	deadline := start.Add(10 * time.Minute)
	if opt.callgrindOut != "" {
		deadline = start.Add(60 * time.Minute)
	}
	for {
		done, err := acknowledged(port)
		if err == nil && done >= n {
			break
		}
		if fb.Exited() || time.Now().After(deadline) {
			return result{}, fmt.Errorf("%d of %d records acknowledged (%v); Fluent Bit:\n%s", done, n, err, tail(fb.Logs()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	res := result{wall: time.Since(start).Seconds()}
	if showThreads {
		use, err := threads(fb.PID())
		if err != nil {
			return res, err
		}
		printThreads(o.name, use)
	}
	if opt.huge {
		if res.huge, err = hugeRecord(fb, port, dir, n); err != nil {
			return res, err
		}
		n++
	}
	if opt.callgrindOut != "" {
		if err := fb.Stop(time.Minute); err != nil {
			return res, fmt.Errorf("under valgrind: %w; Fluent Bit:\n%s", err, tail(fb.Logs()))
		}
		if res.instructions, err = callgrindTotal(opt.callgrindOut); err != nil {
			return res, err
		}
	} else if res.cpu, res.rssMB, err = usage(fb.PID()); err != nil {
		return res, err
	}
	var errs []string
	res.delivered, res.requests, res.wire, errs = s.stats()
	if o.name == "null" {
		res.delivered = n
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("the sink could not decode %d requests: %s", len(errs), errs[0])
	}
	return res, nil
}

// acknowledged sums the records Fluent Bit's outputs processed (FLB_OK),
// from its HTTP server's /api/v1/metrics.
func acknowledged(port int) (int, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/metrics", port))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var m struct {
		Output map[string]struct {
			ProcRecords int `json:"proc_records"`
		} `json:"output"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return 0, err
	}
	n := 0
	for _, o := range m.Output {
		n += o.ProcRecords
	}
	return n, nil
}

// usage reads a process's CPU seconds (user + system, all threads) and
// peak resident memory.
func usage(pid int) (cpu, rssMB float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	_, user, sys := parseStat(string(stat))
	rssMB, err = proc.MemoryMB(pid, "VmHWM")
	return user + sys, rssMB, err
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}
