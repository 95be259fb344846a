// Command sizing is `make bench-aggregator`: the aggregator's own shape,
// measured with a real Fluent Bit running the chart's rendered aggregator
// configuration (conf/k8s/fargate-loki.yaml: elasticsearch input, then
// kubeship with the Workers and batch_wait the chart sets), fed _bulk
// requests on 127.0.0.1 as the Fargate routers' es outputs send them (one
// request a second from each router, one container's records each), into a
// sink that answers as Loki does (204). At each record rate, a fresh Fluent
// Bit: its CPU (utime + stime of /proc/<pid>/stat over the measured
// window) and its peak RSS (VmHWM); every record posted must be counted
// sent by kubeship's own metrics. It prints a table of vCPU and peak RSS
// per rate and per 10,000 records/s, and what each Fargate pod size
// carries at the HPA's CPU target.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubeship/kubeship/test/chart"
	"github.com/kubeship/kubeship/test/fargate"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/proc"
)

// clockTicks is USER_HZ, the unit of utime and stime: 100 on Linux.
const clockTicks = 100

func main() {
	rates := flag.String("rates", "1000,5000,10000,20000", "records per second, comma-separated")
	duration := flag.Duration("duration", 20*time.Second, "measured time at each rate")
	warmup := flag.Duration("warmup", 5*time.Second, "load before measuring")
	routers := flag.Int("routers", 200, "Fargate pods (routers), one container and one request a second each")
	example := flag.String("example", "fargate-loki", "the conf/k8s rendering whose aggregator runs")
	so := flag.String("so", "build/out_kubeship.so", "the kubeship plugin")
	target := flag.Float64("cpu-target", 0.6, "the HPA's CPU utilization target, for the Fargate table")
	outage := flag.Duration("outage", 30*time.Second, "then one run at -outage-rate with the destination answering 503 this long (0: none)")
	outageRate := flag.Int("outage-rate", 10000, "records per second of the outage run")
	repeat := flag.Int("repeat", 3, "runs of each rate, interleaved; the table has medians")
	routerCounts := flag.String("router-counts", "50,500,1000", "then these router counts at -router-rate (1 run each fewer than -repeat), for the cost of connections")
	routerRate := flag.Int("router-rate", 5000, "records per second of the router-count runs")
	sidecarRates := flag.String("sidecar-rates", "10,100,1000", "then conf/k8s/sidecar.yaml's Fluent Bit at these lines/s (\"\": none)")
	out := flag.String("out", "build/perf/aggregator.md", "also write the tables here")
	flag.Parse()

	bin, err := fluentbit.Find()
	if err != nil {
		fail(err)
	}
	root, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	rd, err := chart.Read(root, *example)
	if err != nil {
		fail(err)
	}
	var rs []int
	for _, f := range strings.Split(*rates, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		rate, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || rate <= 0 {
			fail(fmt.Errorf("-rates: %q is not a positive number", f))
		}
		rs = append(rs, rate)
	}
	// Each rate -repeat times, interleaved, so that the machine's load
	// at one moment does not fall on one rate; the table has medians.
	runs := make([][]result, len(rs))
	for rep := range *repeat {
		for i, rate := range rs {
			r, err := measure(bin, *so, rd, rate, *routers, *warmup, *duration, 0)
			if err != nil {
				fail(fmt.Errorf("%d records/s: %w", rate, err))
			}
			fmt.Fprintf(os.Stderr, "run %d, %d records/s: %.3f vCPU, peak RSS %.1f MB, %d records sent of %d, drained in %s, %d requests refused %s\n",
				rep+1, rate, r.cores, r.peakMB, r.sent, r.posted, r.drain.Round(100*time.Millisecond), r.refused, r.firstRefusal)
			runs[i] = append(runs[i], r)
		}
	}
	var results []result
	for _, r := range runs {
		results = append(results, median(r))
	}
	var byRouters []result
	if *routerCounts != "" {
		var counts []int
		for _, f := range strings.Split(*routerCounts, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				fail(fmt.Errorf("-router-counts: %q is not a positive number", f))
			}
			counts = append(counts, n)
		}
		reps := max(1, *repeat-1)
		runs := make([][]result, len(counts))
		for rep := range reps {
			for i, n := range counts {
				r, err := measure(bin, *so, rd, *routerRate, n, *warmup, *duration, 0)
				if err != nil {
					fail(fmt.Errorf("%d routers: %w", n, err))
				}
				r.routers = n
				fmt.Fprintf(os.Stderr, "run %d, %d routers at %d records/s: %.3f vCPU, peak RSS %.1f MB, %d records sent of %d, %d requests refused %s\n",
					rep+1, n, *routerRate, r.cores, r.peakMB, r.sent, r.posted, r.refused, r.firstRefusal)
				runs[i] = append(runs[i], r)
			}
		}
		for _, r := range runs {
			byRouters = append(byRouters, median(r))
		}
	}
	var down *result
	if *outage > 0 {
		r, err := measure(bin, *so, rd, *outageRate, *routers, *warmup, *outage+*duration, *outage)
		if err != nil {
			fail(fmt.Errorf("%d records/s with the destination down %s: %w", *outageRate, *outage, err))
		}
		fmt.Fprintf(os.Stderr, "%d records/s, destination down %s: peak RSS %.1f MB, %d records sent of %d, drained in %s\n",
			*outageRate, *outage, r.peakMB, r.sent, r.posted, r.drain.Round(100*time.Millisecond))
		r.routers, r.runs, r.minCores, r.maxCores = *routers, 1, r.cores, r.cores
		down = &r
	}
	for i := range results {
		results[i].routers = *routers
	}
	report := table(bin, *example, *duration, results, byRouters, down, *target)
	if *sidecarRates != "" {
		var rates []int
		for _, f := range strings.Split(*sidecarRates, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				fail(fmt.Errorf("-sidecar-rates: %q is not a positive number", f))
			}
			rates = append(rates, n)
		}
		t, err := sidecar(bin, *so, root, rates, *duration)
		if err != nil {
			fail(fmt.Errorf("sidecar: %w", err))
		}
		report += t
	}
	fmt.Print(report)
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
			_ = os.WriteFile(*out, []byte(report), 0o644)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sizing:", err)
	os.Exit(1)
}

// median is the run of median CPU, with the runs' CPU range and the
// median peak RSS.
func median(rs []result) result {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.cores, b.cores) })
	m := sorted[len(sorted)/2]
	m.minCores, m.maxCores = sorted[0].cores, sorted[len(sorted)-1].cores
	peaks := make([]float64, len(rs))
	for i, r := range rs {
		peaks[i] = r.peakMB
	}
	slices.Sort(peaks)
	m.peakMB = peaks[len(peaks)/2]
	m.runs = len(rs)
	return m
}

type result struct {
	minCores, maxCores float64 // over the runs
	runs               int
	rate, routers      int
	achieved           float64       // records/s posted over the measured window
	cores              float64       // CPU seconds per second over it
	peakMB             float64       // VmHWM at the end
	posted, sent       int64         // records posted, and counted sent by kubeship
	pushes             float64       // requests the sink accepted per second over the window
	drain              time.Duration // from the end of the load to every record sent
	outage             time.Duration // the destination answered 503 this long from the window's start
	refused            int64         // requests the elasticsearch input refused (sent again a second later)
	firstRefusal       string
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// measure runs one fresh aggregator at rate records/s; with an outage,
// the destination answers 503 for that long from the measured window's
// start.
func measure(bin, so string, rd chart.Rendered, rate, routers int, warmup, duration, outage time.Duration) (result, error) {
	r := result{rate: rate, outage: outage}
	// The sink: Loki's answer to a push, the body read and dropped.
	var sinkRequests atomic.Int64
	var down atomic.Bool
	sink := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		sinkRequests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	go func() { _ = sink.Serve(ln) }()
	defer sink.Close()

	dir, err := os.MkdirTemp("", "kubeship-sizing-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	local := chart.Local{Dir: dir, Port: freePort(), HTTPPort: freePort(),
		LokiURL: fmt.Sprintf("http://%s/loki/api/v1/push", ln.Addr())}
	conf, err := rd.Aggregator(local)
	if err != nil {
		return r, err
	}
	fb, err := fluentbit.Start(bin, so, dir, conf)
	if err != nil {
		return r, err
	}
	defer fb.Stop(30 * time.Second)
	if err := waitHealthy(local.HTTPPort, fb); err != nil {
		return r, err
	}

	// The routers: each sends its container's records once a second.
	ctx, cancel := context.WithCancel(context.Background())
	var posted, refused atomic.Int64
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var loadErr error
	url := fmt.Sprintf("http://127.0.0.1:%d/_bulk", local.Port)
	start := time.Now()
	for i := range routers {
		n := rate / routers
		if i < rate%routers {
			n++
		}
		if n == 0 {
			continue
		}
		body := bulk(i, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
			next := start.Add(time.Duration(i) * time.Second / time.Duration(routers))
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				next = next.Add(time.Second)
				resp, err := client.Post(url, "application/x-ndjson", bytes.NewReader(body))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("elasticsearch input answered %s", resp.Status)
					}
				}
				if err != nil {
					// A router retries a refused request: so does this one,
					// a second later, counting it.
					if ctx.Err() == nil {
						refused.Add(1)
						errMu.Lock()
						if loadErr == nil {
							loadErr = err
						}
						errMu.Unlock()
					}
					continue
				}
				posted.Add(int64(n))
			}
		}()
	}

	time.Sleep(warmup)
	cpu0, err := cpuSeconds(fb.PID())
	if err != nil {
		cancel()
		return r, err
	}
	p0, t0, q0 := posted.Load(), time.Now(), sinkRequests.Load()
	if outage > 0 {
		down.Store(true)
		time.Sleep(outage)
		down.Store(false)
		time.Sleep(duration - outage)
	} else {
		time.Sleep(duration)
	}
	cpu1, err := cpuSeconds(fb.PID())
	if fb.Exited() {
		err = fmt.Errorf("fluent bit exited: %v\n%s", fb.Err(), tail(fb.Logs(), 40))
	}
	p1, t1, q1 := posted.Load(), time.Now(), sinkRequests.Load()
	cancel()
	wg.Wait()
	if err != nil {
		return r, err
	}
	if r.refused = refused.Load(); r.refused > 0 {
		r.firstRefusal = loadErr.Error()
	}
	r.cores = (cpu1 - cpu0) / t1.Sub(t0).Seconds()
	r.pushes = float64(q1-q0) / t1.Sub(t0).Seconds()
	r.achieved = float64(p1-p0) / t1.Sub(t0).Seconds()
	r.posted = posted.Load()

	// Every record posted is counted sent by kubeship.
	end := time.Now()
	for {
		sent, err := recordsSent(local.HTTPPort)
		if err == nil && sent >= r.posted {
			r.sent, r.drain = sent, time.Since(end)
			break
		}
		if time.Since(end) > 5*time.Minute {
			return r, fmt.Errorf("kubeship sent %d of %d records posted, 5 minutes after the load stopped (%v)", sent, r.posted, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.peakMB, err = proc.MemoryMB(fb.PID(), "VmHWM"); err != nil {
		return r, err
	}
	return r, nil
}

func waitHealthy(port int, fb *fluentbit.Process) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if fb.Exited() {
			return fmt.Errorf("fluent bit exited:\n%s", fb.Logs())
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/health", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("fluent bit not healthy after 30s:\n%s", fb.Logs())
}

// cpuSeconds is the process's utime + stime so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc/<pid>/stat")
	}
	f := strings.Fields(s[i+1:])
	// fields after the command: state(0) ... utime(11) stime(12)
	if len(f) < 13 {
		return 0, errors.New("short /proc/<pid>/stat")
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable utime/stime")
	}
	return (u + st) / clockTicks, nil
}

// recordsSent sums fluentbit_kubeship_records_sent_total over the outputs,
// from Fluent Bit's endpoint on httpPort (the chart sets no metrics_listen).
func recordsSent(httpPort int) (int64, error) {
	m, found, err := chart.KubeshipMetric(httpPort, "records_sent_total")
	if err == nil && !found {
		err = errors.New("no fluentbit_kubeship_records_sent_total on Fluent Bit's endpoint")
	}
	var sum float64
	for _, v := range m {
		sum += v
	}
	return int64(sum), err
}

// bulk is one router's request: n records of pod i's container as the es
// output of the rendered aws-logging writes them (Suppress_Type_Name,
// Include_Tag_Key with Tag_Key flb_tag, Time_Key_Nanos), after the CRI
// parser and the kubernetes filter.
func bulk(i, n int) []byte {
	base := fargate.Pods()[i%len(fargate.Pods())]
	p := base
	p.Name = fmt.Sprintf("%s-%04d", base.Name, i)
	p.ContainerID = fmt.Sprintf("%064x", i+1)
	now := time.Now().UTC()
	var b bytes.Buffer
	for j := range n {
		l := fargate.Line{Time: now.Add(time.Duration(j) * time.Millisecond), Stream: "stdout",
			Text: fmt.Sprintf(`10.0.%d.%d - - "GET /api/orders/%d HTTP/1.1" 200 512 "-" "Go-http-client/1.1" rt=0.012`, i%250, j%250, j)}
		if j%4 == 1 {
			l.Text = fmt.Sprintf(`{"level":"info","msg":"order placed","order_id":%d,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`, j)
		}
		rec := fargate.Record(p, l)
		b.WriteString(`{"create":{"_index":"fargate"}}` + "\n")
		fmt.Fprintf(&b, `{"@timestamp":%q,"flb_tag":%q,`, l.Time.Format("2006-01-02T15:04:05.000000000Z"), p.Tag())
		body, err := json.Marshal(rec)
		if err != nil {
			fail(err)
		}
		b.Write(body[1:])
		b.WriteString("\n")
	}
	return b.Bytes()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
