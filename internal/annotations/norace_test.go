//go:build !race

package annotations

const race = false
