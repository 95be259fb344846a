package main

import (
	"os"
	"runtime/pprof"
	"sync"
)

// KUBESHIP_CPUPROFILE=path writes a pprof CPU profile of the plugin, from
// its registration until Fluent Bit unloads it: how the hot path was
// measured inside a real Fluent Bit (go tool pprof -top path; naming the .so
// as the binary would mislabel Fluent Bit's own code with Go symbols).
var profile struct {
	once sync.Once
	f    *os.File
}

func startProfile() {
	path := os.Getenv("KUBESHIP_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil && pprof.StartCPUProfile(f) == nil {
		profile.f = f
	}
}

func stopProfile() {
	profile.once.Do(func() {
		if profile.f != nil {
			pprof.StopCPUProfile()
			_ = profile.f.Close()
		}
	})
}
