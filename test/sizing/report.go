package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kubeship/kubeship/test/fluentbit"
)

// fargateSize is one of Fargate's pod configurations.
type fargateSize struct {
	vcpu, gb float64
}

var fargateSizes = []fargateSize{{0.25, 0.5}, {0.5, 1}, {1, 2}, {2, 4}}

// fit is a least-squares line y = a + b·x.
func fit(xs, ys []float64) (a, b float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	if d := n*sxx - sx*sx; d != 0 {
		b = (n*sxy - sx*sy) / d
	}
	return (sy - b*sx) / n, b
}

// model is y = a + b·records/s + c·routers, from a rate sweep at one
// router count and a router sweep at one rate.
type model struct{ a, b, c float64 }

func newModel(byRate, byRouters []result, y func(result) float64) model {
	var xs, ys []float64
	for _, r := range byRate {
		xs, ys = append(xs, r.achieved), append(ys, y(r))
	}
	a1, b := fit(xs, ys)
	if len(byRouters) < 2 || len(byRate) == 0 {
		return model{a: a1, b: b}
	}
	xs, ys = nil, nil
	for _, r := range byRouters {
		xs, ys = append(xs, float64(r.routers)), append(ys, y(r))
	}
	_, c := fit(xs, ys)
	return model{a: a1 - c*float64(byRate[0].routers), b: b, c: c}
}

func derefs(r *result) []result {
	if r == nil {
		return nil
	}
	return []result{*r}
}

func row(w *strings.Builder, label string, r result) {
	fmt.Fprintf(w, "| %s | %.0f | %.3f (%.3f–%.3f) | %.3f | %.1f | %.1f | %s | %d |\n", label, r.achieved, r.cores, r.minCores, r.maxCores,
		r.cores/(r.achieved/10000), r.peakMB, r.pushes, r.drain.Round(100*time.Millisecond), r.refused)
}

const header = "| records/s | achieved | vCPU (range) | vCPU per 10k records/s | peak RSS (MB) | pushes/s to Loki | sent after the load stopped | requests refused |\n|---|---|---|---|---|---|---|---|\n"

func table(bin, example string, duration time.Duration, byRate, byRouters []result, down *result, target float64) string {
	var w strings.Builder
	runs, routers := 1, 0
	if len(byRate) > 0 {
		runs, routers = byRate[0].runs, byRate[0].routers
	}
	fmt.Fprintf(&w, "%s running conf/k8s/%s.yaml's aggregator (elasticsearch input, kubeship to a sink answering as Loki does); "+
		"each router sends one request a second with one container's records; %s measured per run; medians of %d interleaved runs, the range in brackets.\n\n",
		fluentbit.Version(bin), example, duration, runs)
	fmt.Fprintf(&w, "By record rate, %d routers:\n\n", routers)
	w.WriteString(header)
	for _, r := range byRate {
		row(&w, fmt.Sprint(r.rate), r)
	}
	if len(byRouters) > 0 {
		fmt.Fprintf(&w, "\nBy routers (logging containers: a request a second each), %d records/s, medians of %d:\n\n", byRouters[0].rate, byRouters[0].runs)
		w.WriteString(strings.Replace(header, "| records/s |", "| routers |", 1))
		for _, r := range byRouters {
			row(&w, fmt.Sprint(r.routers), r)
		}
	}
	if down != nil {
		fmt.Fprintf(&w, "\nThe destination answering 503 for %s at %d records/s (%d routers), then back; peak RSS is the drain after it:\n\n", down.outage, down.rate, down.routers)
		w.WriteString(header)
		row(&w, fmt.Sprintf("%d, destination down %s", down.rate, down.outage), *down)
	}
	cpu := newModel(byRate, byRouters, func(r result) float64 { return r.cores })
	fmt.Fprintf(&w, "\nFitted to the medians: vCPU = %.3f + %.3f per 10k records/s + %.3f per 100 routers.\n\n", cpu.a, cpu.b*10000, cpu.c*100)
	// The memory a limit must hold: the highest peak measured, the drain
	// after an outage included.
	var highest result
	for _, r := range append(append(slices.Clone(byRate), byRouters...), derefs(down)...) {
		if r.peakMB > highest.peakMB {
			highest = r
		}
	}
	fmt.Fprintf(&w, "What one aggregator pod carries at the HPA's %.0f%% CPU target, requests equal to limits (the pod's memory less the 256 MB Fargate adds), and its memory limit over the highest peak RSS measured above (%.0f MB):\n\n",
		target*100, highest.peakMB)
	w.WriteString("| Fargate pod | requests = limits | records/s, 100 routers | records/s, 500 routers | memory limit / highest peak |\n|---|---|---|---|---|\n")
	for _, s := range fargateSizes {
		memMi := s.gb*1024 - 256
		rateAt := func(routers float64) float64 {
			if cpu.b <= 0 {
				return 0
			}
			return math.Max(0, (target*s.vcpu-cpu.a-cpu.c*routers)/cpu.b)
		}
		fmt.Fprintf(&w, "| %g vCPU / %g GB | cpu %gm, memory %.0fMi | %.0f | %.0f | %.1f× |\n",
			s.vcpu, s.gb, s.vcpu*1000, memMi, math.Floor(rateAt(100)/100)*100, math.Floor(rateAt(500)/100)*100, memMi/highest.peakMB)
	}
	return w.String()
}
