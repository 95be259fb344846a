package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kubeship/kubeship/test/fluentbit"
)

// The scale mode (-scale, `make bench-scale`) measures production's shape:
// the same corpus over many containers, one tag each, as the Fargate
// aggregator re-tags records, so Fluent Bit flushes one small chunk per
// container per second. Each output runs at every scale, interleaved and
// repeated; then, at one scale and a smaller N, once each under valgrind,
// counting the instructions Fluent Bit's whole process executes: a figure
// the machine's load does not move. The counter is cachegrind's Ir (with no
// cache simulation), the same count callgrind reports: callgrind aborts on
// the Go runtime's signals (Assertion in vgCallgrind_post_signal, valgrind
// 3.19), cachegrind does not.

// lokiSM is Fluent Bit's built-in loki output sending what kubeship sends
// by default: the labels namespace, container and app, the application's
// line (drop_single_key raw once the other keys are removed), and the
// structured metadata kubeship's Kubernetes defaults carry (internal/loki
// kubeMetadata). Fluent Bit can't read `level` out of the line, which the
// router leaves unparsed (Merge_Log Off): $level names a key the records
// lack, as kubeship's level is empty for lines without one. kubeship falls
// back from app.kubernetes.io/name to app; an accessor can't.
const lokiSM = "    Name loki\n    Match kube.*\n    Host 127.0.0.1\n    Port %d\n" +
	"    labels namespace=$kubernetes['namespace_name'], container=$kubernetes['container_name'], app=$kubernetes['labels']['app.kubernetes.io/name']\n" +
	"    structured_metadata pod=$kubernetes['pod_name'], pod_id=$kubernetes['pod_id'], container_id=$kubernetes['docker_id'], node=$kubernetes['host'], image=$kubernetes['container_image'], stream=$stream, level=$level\n" +
	"    remove_keys kubernetes, stream, logtag\n    drop_single_key raw\n"

// scaleOutputs are the scale mode's rows. Workers 8 with batch_wait is
// kubeship's group commit: flushes running at once join one push.
func scaleOutputs(kubeship string) []output {
	const ks = "    Name kubeship\n    Match kube.*\n"
	const ksLoki = ks + "    url http://127.0.0.1:%d/loki/api/v1/push\n"
	const ksDD = ks + "    destination datadog\n    apikey bench\n    url http://127.0.0.1:%d/api/v2/logs\n"
	const dd = "    Name datadog\n    Match kube.*\n    Host 127.0.0.1\n    Port %d\n    TLS off\n    compress gzip\n    apikey bench\n    dd_service bench\n    dd_source bench\n"
	w := func(n int) string { return fmt.Sprintf("    Workers %d\n", n) }
	return []output{
		{"null", "    Name null\n    Match kube.*\n", ""},
		{"loki-sm", lokiSM + w(0), ""},
		{"loki-sm w4", lokiSM + w(4), ""},
		{"loki gzip", lokiSM + w(0) + "    compress gzip\n", ""},
		{"loki gzip w4", lokiSM + w(4) + "    compress gzip\n", ""},
		{"datadog", dd + w(0), ""},
		{"datadog w4", dd + w(4), ""},
		{"kubeship loki", ksLoki, kubeship},
		{"kubeship loki w4", ksLoki + w(4), kubeship},
		{"kubeship datadog", ksDD, kubeship},
		{"kubeship datadog w4", ksDD + w(4), kubeship},
		{"loki-sm w8", lokiSM + w(8), ""},
		{"kubeship loki w8 bw200ms", ksLoki + w(8) + "    batch_wait 200ms\n", kubeship},
	}
}

// scaleConfig is the scale mode's flags.
type scaleConfig struct {
	n, repeat   int
	scales      []int
	callgrindN  int // 0: no valgrind runs
	callgrindAt int // the scale valgrind runs at
	only        string
	huge        bool // measure memory around a 32 MB record (hugeRecord)
}

// parseScales reads -scales ("20,200,2000").
func parseScales(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("-scales: want container counts like 20,200,2000, got %q", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// scaleResults are one scale's runs per output, or its runs under valgrind:
// instructions per record of Fluent Bit's whole process.
type scaleResults struct {
	containers int
	runs       map[string][]result
	perRecord  map[string]float64
}

func runScale(bin, so, outDir string, sc scaleConfig) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kubeship-perf-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	s, err := startSink()
	if err != nil {
		return err
	}
	defer s.close()
	var chosen []output
	for _, o := range scaleOutputs(so) {
		if !picked(o.name, sc.only) {
			continue
		}
		if o.plugin != "" {
			if _, err := os.Stat(o.plugin); err != nil {
				return fmt.Errorf("%s missing: run `make build`", o.plugin)
			}
		}
		chosen = append(chosen, o)
	}
	corpora := map[int]corpus{}
	all := map[int]*scaleResults{}
	for _, c := range sc.scales {
		if corpora[c], err = writeCorpus(filepath.Join(work, fmt.Sprint("scale-", c)), sc.n, c); err != nil {
			return err
		}
		all[c] = &scaleResults{containers: c, runs: map[string][]result{}}
	}
	fmt.Printf("%s (%s), %d records over %v containers (%.0f MB of CRI lines), %d runs of each, interleaved\n",
		bin, fluentbit.Version(bin), sc.n, sc.scales, float64(corpora[sc.scales[0]].bytes)/1e6, sc.repeat)
	for r := 0; r < sc.repeat; r++ {
		for _, c := range sc.scales {
			for _, o := range chosen {
				res, err := runOne(bin, work, corpora[c], s, o, sc.n, runOpts{})
				if err != nil {
					return fmt.Errorf("%d containers, %s: %w", c, o.name, err)
				}
				fmt.Printf("  run %d %5d containers %-26s cpu %6.2fs wall %6.2fs rss %4.0f MB requests %6d delivered %d/%d\n",
					r+1, c, o.name, res.cpu, res.wall, res.rssMB, res.requests, res.delivered, sc.n)
				all[c].runs[o.name] = append(all[c].runs[o.name], res)
			}
		}
	}
	huge := map[string]result{}
	if sc.huge {
		c, err := writeCorpus(filepath.Join(work, "huge"), hugeN, sc.scales[0])
		if err != nil {
			return err
		}
		for _, o := range chosen {
			if !slices.Contains(hugeOutputs, o.name) {
				continue
			}
			res, err := runOne(bin, work, c, s, o, hugeN, runOpts{huge: true})
			if err != nil {
				return fmt.Errorf("32 MB record, %s: %w", o.name, err)
			}
			fmt.Printf("  32 MB record %-26s RSS %4.0f MB before, peak %4.0f, %4.0f after; delivered %d/%d\n",
				o.name, res.huge.before, res.huge.peak, res.huge.after, res.delivered, hugeN+1)
			huge[o.name] = res
		}
	}
	var cg *scaleResults
	if sc.callgrindN > 0 {
		if cg, err = countInstructions(bin, work, s, chosen, sc); err != nil {
			return err
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s); %d records per run, %d interleaved runs of each output at each scale", filepath.Base(bin), fluentbit.Version(bin), sc.n, sc.repeat)
	if cg != nil {
		fmt.Fprintf(&b, "; instructions (valgrind): the difference between runs of %d and %d records over %d containers, one of each", sc.callgrindN, sc.callgrindN/4, sc.callgrindAt)
	}
	b.WriteString(".\n")
	if sc.repeat > 0 { // -repeat 0 runs only the 32 MB record
		for _, c := range sc.scales {
			b.WriteString("\n" + scaleReport(chosen, all[c], cg, sc.n))
		}
	}
	if len(huge) > 0 {
		b.WriteString("\n" + hugeReport(sc.scales[0], huge, hugeOutputs))
	}
	fmt.Println("\n" + b.String())
	return os.WriteFile(filepath.Join(outDir, "scale.md"), []byte(b.String()), 0o644)
}

// countInstructions runs each output under valgrind over n and n/4 records
// at one scale, and keeps the difference of the instructions executed per
// record between the two: what a record costs, without the fixed cost of
// starting and stopping (loading a Go plugin, its runtime's start-up) that
// would dominate a small run.
func countInstructions(bin, work string, s *sink, chosen []output, sc scaleConfig) (*scaleResults, error) {
	cg := &scaleResults{containers: sc.callgrindAt, perRecord: map[string]float64{}}
	wrapper, out, err := callgrindWrapper(work, bin)
	if err != nil {
		return nil, err
	}
	sizes := []int{sc.callgrindN / 4, sc.callgrindN}
	var corpora [2]corpus
	for i, n := range sizes {
		if corpora[i], err = writeCorpus(filepath.Join(work, fmt.Sprint("instructions-", n)), n, sc.callgrindAt); err != nil {
			return nil, err
		}
	}
	for _, o := range chosen {
		var ir [2]int64
		for i, n := range sizes {
			_ = os.Remove(out)
			res, err := runOne(wrapper, work, corpora[i], s, o, n, runOpts{callgrindOut: out})
			if err != nil {
				return nil, fmt.Errorf("valgrind, %s: %w", o.name, err)
			}
			if res.delivered != n {
				return nil, fmt.Errorf("valgrind, %s: %d of %d records delivered", o.name, res.delivered, n)
			}
			ir[i] = res.instructions
		}
		cg.perRecord[o.name] = float64(ir[1]-ir[0]) / float64(sizes[1]-sizes[0])
		fmt.Printf("  valgrind %5d containers %-26s %12d instructions over %d records, %12d over %d: %.0f per record\n",
			sc.callgrindAt, o.name, ir[0], sizes[0], ir[1], sizes[1], cg.perRecord[o.name])
	}
	return cg, nil
}

// callgrindWrapper writes a script that runs Fluent Bit under valgrind when
// it is started with a configuration (and as itself for `-h`, which
// fluentbit.Check reads), so fluentbit.Start can run it unchanged. It
// returns the script and the file valgrind writes.
func callgrindWrapper(work, bin string) (wrapper, out string, err error) {
	if _, err := exec.LookPath("valgrind"); err != nil {
		return "", "", fmt.Errorf("counting instructions needs valgrind (or -instr-n 0): %w", err)
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return "", "", err
	}
	wrapper, out = filepath.Join(work, "fluent-bit-callgrind"), filepath.Join(work, "callgrind.out")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = -c ]; then exec valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=%q %q \"$@\"; fi\nexec %q \"$@\"\n", out, bin, bin)
	return wrapper, out, os.WriteFile(wrapper, []byte(script), 0o755)
}

// callgrindTotal reads the instructions executed (Ir) from a cachegrind or
// callgrind output file: its "totals:" line, else its "summary:" line.
func callgrindTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("valgrind wrote no output: %w", err)
	}
	defer f.Close()
	var summary string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if v, ok := strings.CutPrefix(l, "totals:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
		if v, ok := strings.CutPrefix(l, "summary:"); ok {
			summary = v
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if summary == "" {
		return 0, fmt.Errorf("%s: no totals: or summary: line", path)
	}
	return strconv.ParseInt(strings.Fields(summary)[0], 10, 64)
}

// cpuOverNull is an output's CPU µs per record above null's, from the
// median (or the minimum) of each one's runs.
func cpuOverNull(runs map[string][]result, name string, n int, pick func([]float64) float64) float64 {
	cpu := func(name string) float64 {
		xs := make([]float64, len(runs[name]))
		for i, r := range runs[name] {
			xs[i] = r.cpu
		}
		return pick(xs)
	}
	return (cpu(name) - cpu("null")) / float64(n) * 1e6
}

func minimum(xs []float64) float64 { return slices.Min(xs) }

// instrOverNull is an output's instructions per record above null's.
func instrOverNull(cg *scaleResults, name string) float64 {
	return cg.perRecord[name] - cg.perRecord["null"]
}

// delivered says how many records arrived, "N/N" when every run delivered
// exactly N, else the range.
func delivered(rs []result, n int) string {
	lo := slices.MinFunc(rs, func(a, b result) int { return a.delivered - b.delivered }).delivered
	hi := slices.MaxFunc(rs, func(a, b result) int { return a.delivered - b.delivered }).delivered
	if lo == hi {
		return fmt.Sprintf("%d/%d", lo, n)
	}
	return fmt.Sprintf("%d–%d/%d", lo, hi, n)
}

// scaleReport renders one scale's table, then kubeship's ratios to its
// peers in the same run and the targets at that scale.
func scaleReport(outs []output, sr *scaleResults, cg *scaleResults, n int) string {
	withCG := cg != nil && cg.containers == sr.containers
	var b strings.Builder
	fmt.Fprintf(&b, "### %d containers\n\n", sr.containers)
	b.WriteString("| output | CPU µs/record over null, median | min | instructions/record over null | requests/1k records | wire B/record | peak RSS MB | wall s | delivered/N |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, o := range outs {
		rs := sr.runs[o.name]
		instr := "–"
		if withCG {
			if o.name == "null" {
				instr = fmt.Sprintf("(null itself: %.0f)", cg.perRecord["null"])
			} else {
				instr = fmt.Sprintf("%.0f", instrOverNull(cg, o.name))
			}
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %s | %.2f | %.0f | %.0f | %.1f | %s |\n", o.name,
			cpuOverNull(sr.runs, o.name, n, median), cpuOverNull(sr.runs, o.name, n, minimum), instr,
			medianOf(rs, func(r result) float64 { return float64(r.requests) })*1000/float64(n),
			medianOf(rs, func(r result) float64 { return float64(r.wire) })/float64(n),
			medianOf(rs, func(r result) float64 { return r.rssMB }),
			medianOf(rs, func(r result) float64 { return r.wall }), delivered(rs, n))
	}
	b.WriteString("\nkubeship ÷ peer, over null (CPU median, CPU min")
	if withCG {
		b.WriteString(", instructions")
	}
	b.WriteString("):\n\n")
	for _, p := range [][2]string{{"kubeship loki", "loki-sm"}, {"kubeship loki w4", "loki-sm w4"},
		{"kubeship loki", "loki gzip"}, {"kubeship datadog", "datadog"}, {"kubeship datadog w4", "datadog w4"}} {
		if sr.runs[p[0]] == nil || sr.runs[p[1]] == nil {
			continue
		}
		fmt.Fprintf(&b, "- %s ÷ %s: %.2f, %.2f", p[0], p[1],
			cpuOverNull(sr.runs, p[0], n, median)/cpuOverNull(sr.runs, p[1], n, median),
			cpuOverNull(sr.runs, p[0], n, minimum)/cpuOverNull(sr.runs, p[1], n, minimum))
		if withCG {
			fmt.Fprintf(&b, ", %.2f", instrOverNull(cg, p[0])/instrOverNull(cg, p[1]))
		}
		b.WriteString("\n")
	}
	const gc, peer = "kubeship loki w8 bw200ms", "loki-sm w8"
	if sr.runs[gc] != nil && sr.runs[peer] != nil {
		req := func(name string) float64 {
			return medianOf(sr.runs[name], func(r result) float64 { return float64(r.requests) })
		}
		fmt.Fprintf(&b, "- requests, %s ÷ %s: %.2f (%.0f ÷ %.0f), delivered %s\n", gc, peer, req(gc)/req(peer), req(gc), req(peer), delivered(sr.runs[gc], n))
	}
	return b.String()
}
