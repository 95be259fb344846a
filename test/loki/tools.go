//go:build tools

// Package tools pins the Loki server binary built for the integration tests.
package tools

import _ "github.com/grafana/loki/v3/cmd/loki"
