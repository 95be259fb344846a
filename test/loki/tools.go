//go:build tools

// Package tools pins the Loki server binary built for the integration tests
// and, for the benchmark (test/perf), Loki's own Fluent Bit Go plugin
// (grafana-loki), built from the same version.
package tools

import (
	_ "github.com/grafana/loki/v3/clients/cmd/fluent-bit"
	_ "github.com/grafana/loki/v3/cmd/loki"
)
