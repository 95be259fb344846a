//go:build tools

// Package tools pins the release tools: cyclonedx-gomod, which `make dist`
// builds into build/cyclonedx-gomod to write the SBOM of the Go modules the
// plugin links, and actionlint, which `make lint` builds into
// build/actionlint to check .github/workflows. It is a module of its own so
// the tools' dependencies never reach the plugin's go.mod.
package tools

import (
	_ "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod"
	_ "github.com/rhysd/actionlint/cmd/actionlint"
)
