//go:build tools

// Package tools pins Helm, built from the Go module proxy by `make helm`
// (build/helm), so the chart under conf/helm/kubeship is linted and
// rendered by a real helm, not a reimplementation.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
