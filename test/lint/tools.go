//go:build tools

// Package tools pins staticcheck, which `make lint` builds into
// build/staticcheck and runs on the plugin's module and on test/manifests.
// It is a module of its own so the linter's dependencies never reach the
// plugin's go.mod.
package tools

import (
	_ "honnef.co/go/tools/cmd/staticcheck"
)
