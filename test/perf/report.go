package main

import (
	"fmt"
	"slices"
	"strings"
)

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianOf(rs []result, f func(result) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return median(xs)
}

// overNull is an output's median CPU µs per record above the null
// output's median.
func overNull(results map[string][]result, name string, n int) float64 {
	base := medianOf(results["null"], func(r result) float64 { return r.cpu })
	return (medianOf(results[name], func(r result) float64 { return r.cpu }) - base) / float64(n) * 1e6
}

// report renders the Markdown table of medians, then kubeship's ratios to
// each peer measured in the same run.
func report(outs []output, results map[string][]result, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| output | CPU µs/record over null | records/s | wire MB | requests | peak RSS MB | delivered/N |\n|---|---|---|---|---|---|---|\n")
	for _, o := range outs {
		rs := results[o.name]
		delivered := slices.MinFunc(rs, func(a, b result) int { return a.delivered - b.delivered }).delivered
		fmt.Fprintf(&b, "| %s | %.2f | %.0f | %.1f | %.0f | %.0f | %d/%d |\n", o.name, overNull(results, o.name, n),
			float64(n)/medianOf(rs, func(r result) float64 { return r.wall }),
			medianOf(rs, func(r result) float64 { return float64(r.wire) })/1e6,
			medianOf(rs, func(r result) float64 { return float64(r.requests) }),
			medianOf(rs, func(r result) float64 { return r.rssMB }), delivered, n)
	}
	b.WriteString("\nkubeship's CPU over null as a fraction of each peer's (same run):\n\n")
	for _, k := range []string{"kubeship loki", "kubeship datadog"} {
		if results[k] == nil {
			continue
		}
		for _, peer := range []string{"loki", "loki gzip", "grafana-loki", "datadog gzip"} {
			if results[peer] == nil || strings.Contains(k, "datadog") != strings.Contains(peer, "datadog") {
				continue
			}
			fmt.Fprintf(&b, "- %s ÷ %s: %.2f\n", k, peer, overNull(results, k, n)/overNull(results, peer, n))
		}
	}
	return b.String()
}

// chart is a bar chart of CPU µs/record over null, as SVG.
func chart(outs []output, results map[string][]result, n int) string {
	const barH, gap, left, width = 22, 8, 170, 420
	var vals []float64
	for _, o := range outs {
		vals = append(vals, max(0, overNull(results, o.name, n)))
	}
	top := slices.Max(append(vals, 1))
	h := len(outs)*(barH+gap) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+80, h)
	fmt.Fprintf(&b, `<text x="%d" y="16" font-weight="bold">CPU µs per record over the null output (median of runs, N=%d)</text>`+"\n", 4, n)
	for i, o := range outs {
		y := 30 + i*(barH+gap)
		w := int(vals[i] / top * width)
		color := "#8a8a8a"
		if strings.HasPrefix(o.name, "kubeship") {
			color = "#2b7bb9"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+15, o.name)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", left, y, w, barH, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%.2f</text>`+"\n", left+w+4, y+15, vals[i])
	}
	b.WriteString("</svg>\n")
	return b.String()
}
