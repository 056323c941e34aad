package middleware

import "testing"

// TestRateLimiterClockReadBeforeLock: take reads the clock before it locks
// the bucket's shard, so a request may arrive with an earlier time than the
// one before it. The bucket must not run its time back: that would take
// tokens away and stretch Retry-After past the refill time (1001 s for a
// rate of one token in 1000 s).
func TestRateLimiterClockReadBeforeLock(t *testing.T) {
	l := newRateLimiter(0.001, 1, 100)
	var clock int64 = 5e9
	l.now = func() int64 { return clock }
	key := rateLimitKey{v: "10.0.0.1"}
	if ok, _ := l.take(key); !ok {
		t.Fatal("the first request found no token")
	}
	clock -= 2e9 // a request that read the clock earlier, served later
	ok, retry := l.take(key)
	if ok || retry != 1000 {
		t.Errorf("second request: ok %v, Retry-After %d, want refused with 1000", ok, retry)
	}
	clock += 2e9 + 1000e9 // 1000 s after the first: exactly one token again
	if ok, _ := l.take(key); !ok {
		t.Error("no token 1000 s after the bucket was emptied")
	}
}
