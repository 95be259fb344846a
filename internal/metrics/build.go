package metrics

import (
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// build is what kubeship_build_info says about the running plugin.
var build = struct {
	sync.Mutex
	version, abi string
}{version: "dev", abi: "unknown"}

// SetBuild records the plugin's version and the Fluent Bit plugin ABI it
// found in the process that loaded it ("2.0+", "pre-2.0" or "unknown"), for
// the kubeship_build_info of every listener opened after (and the
// fluentbit_kubeship_build_info of every instance). The plugin calls it once,
// at registration.
func SetBuild(version, fluentBitABI string) {
	build.Lock()
	defer build.Unlock()
	build.version, build.abi = version, fluentBitABI
}

// buildLabels returns what SetBuild recorded.
func buildLabels() (version, fluentBitABI string) {
	build.Lock()
	defer build.Unlock()
	return build.version, build.abi
}

const buildInfoHelp = "The plugin's version, Go release, Fluent Bit plugin ABI found and architecture; always 1."

// registerBuildInfo adds kubeship_build_info, always 1, to a listener's
// registry: one series per process, labelled with the version, the Go
// release it was built with, the Fluent Bit ABI and the architecture.
func registerBuildInfo(reg prometheus.Registerer) {
	build.Lock()
	defer build.Unlock()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "kubeship",
		Name:      "build_info",
		Help:      buildInfoHelp,
		ConstLabels: prometheus.Labels{
			"version":       build.version,
			"goversion":     runtime.Version(),
			"fluentbit_abi": build.abi,
			"arch":          runtime.GOARCH,
		},
	}, func() float64 { return 1 }))
}
