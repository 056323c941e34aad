package middleware

// Hooks into unexported state for the external tests of package
// middleware_test (rate_limit's bounded memory).

// RateLimitBuckets returns the number of buckets a built rate_limit block
// holds.
func RateLimitBuckets(rl *RateLimit) int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.lim == nil {
		return 0
	}
	return rl.lim.len()
}

// RateLimitSweep runs the sweeper of a built rate_limit block once.
func RateLimitSweep(rl *RateLimit) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.lim != nil {
		rl.lim.sweep()
	}
}

// RateLimitSetClock replaces the clock of a built rate_limit block: now
// returns nanoseconds on a monotonic scale.
func RateLimitSetClock(rl *RateLimit, now func() int64) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.lim.now = now
}
