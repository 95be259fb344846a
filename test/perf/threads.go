package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// threadUse is the CPU and context switches of one thread. Fluent Bit names
// its own (flb-pipeline, flb-out-*-w0); a thread the Go runtime starts takes
// the name of the thread that started it.
type threadUse struct {
	name             string
	user, sys        float64 // seconds
	voluntary, invol int
}

// threads reads /proc/<pid>/task/*, busiest first. It tells what an output
// costs beyond its own code, e.g. runtime threads that wake to poll.
func threads(pid int) ([]threadUse, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(tasks) == 0 {
		return nil, fmt.Errorf("no threads under /proc/%d/task: %v", pid, err)
	}
	var out []threadUse
	for _, task := range tasks {
		stat, err1 := os.ReadFile(filepath.Join(task, "stat"))
		status, err2 := os.ReadFile(filepath.Join(task, "status"))
		if err1 != nil || err2 != nil {
			continue // the thread ended meanwhile
		}
		name, user, sys := parseStat(string(stat))
		out = append(out, threadUse{name: filepath.Base(task) + " " + name, user: user, sys: sys,
			voluntary: int(statusNumber(string(status), "voluntary_ctxt_switches")),
			invol:     int(statusNumber(string(status), "nonvoluntary_ctxt_switches"))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].user+out[i].sys > out[j].user+out[j].sys })
	return out, nil
}

// parseStat reads the command name and CPU seconds (user, system) of a
// /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat line.
func parseStat(stat string) (name string, user, sys float64) {
	// The name is in parentheses and may hold spaces and parentheses.
	end := strings.LastIndexByte(stat, ')')
	name = stat[strings.IndexByte(stat, '(')+1 : end]
	f := strings.Fields(stat[end+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return name, utime / 100, stime / 100 // USER_HZ is 100 on Linux
}

// statusNumber reads the number of a "key: value" line of a
// /proc/<pid>/status file (kB for sizes); 0 when there is none.
func statusNumber(status, key string) float64 {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n
		}
	}
	return 0
}

func printThreads(name string, use []threadUse) {
	fmt.Printf("    threads of %s:\n", name)
	for _, u := range use {
		fmt.Printf("      %-26s user %6.2fs sys %6.2fs switches %7d voluntary %6d involuntary\n",
			u.name, u.user, u.sys, u.voluntary, u.invol)
	}
}
