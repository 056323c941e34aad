//go:build race

package middleware_test

// setbRace is true when the race detector is on; sync.Pool then drops
// items on purpose, so allocation counts mean nothing.
const setbRace = true
