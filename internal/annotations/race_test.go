//go:build race

package annotations

// race: the race detector makes sync.Pool drop values at random, so
// regexp's pooled matchers allocate.
const race = true
