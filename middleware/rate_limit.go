package middleware

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "rate_limit", Kind: config.KindMiddleware,
		Doc: "limits requests per client or per header value with token buckets",
		New: func() any {
			return &RateLimit{Rate: 10, Burst: 20, Key: "client", MaxKeys: 100000}
		},
	})
}

// RateLimit is the rate_limit middleware: a token bucket per key.
//
//	rate_limit {
//	  rate     = 10        # tokens added per second (fractions allowed: 0.5)
//	  burst    = 20        # bucket size: requests allowed at once
//	  key      = "client"  # client address, or "header:X-Api-Key"
//	  max_keys = 100000    # buckets kept; the least recently used goes first
//	}
//
// Every request, WebSocket handshake and SSE request takes one token from
// its key's bucket, which starts full and refills at rate tokens per
// second up to burst. A request that finds no token gets 429 with
// Retry-After (whole seconds, rounded up), RateLimit-Limit (burst) and
// RateLimit-Remaining (0); a WebSocket handshake gets the 429 as a denial.
// Allowed responses are not changed.
//
// With key = "header:NAME", requests without that header are counted by
// client address. Requests over a Unix socket have no client address and
// share one bucket. Behind a proxy, use a header the proxy sets.
//
// Buckets live in 32 shards, each with its own lock and least-recently-used
// list, together holding at most max_keys buckets; a bucket that has
// refilled is the same as no bucket, so a sweeper drops those every few
// seconds (stopped by Cleanup). The buckets belong to the block: a block in
// a site or a named chain counts the requests of every route it applies to
// together. A reload starts with full buckets.
type RateLimit struct {
	// Rate is the number of tokens added per second.
	Rate float64 `hcl:"rate,optional"`
	// Burst is the bucket size.
	Burst int `hcl:"burst,optional"`
	// Key is "client" or "header:NAME".
	Key string `hcl:"key,optional"`
	// MaxKeys bounds the number of buckets kept.
	MaxKeys int `hcl:"max_keys,optional"`

	mu  sync.Mutex
	lim *rateLimiter
}

var (
	_ config.Validator        = (*RateLimit)(nil)
	_ config.MiddlewareModule = (*RateLimit)(nil)
	_ config.Cleaner          = (*RateLimit)(nil)
)

// Validate checks the numbers and the key.
func (rl *RateLimit) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !(rl.Rate > 0) || math.IsInf(rl.Rate, 0) {
		diags = append(diags, ctx.Error("rate", "Invalid rate", "rate must be a positive number of tokens per second"))
	}
	if rl.Burst < 1 {
		diags = append(diags, ctx.Error("burst", "Invalid burst", "burst must be at least 1"))
	}
	if rl.MaxKeys < 1 {
		diags = append(diags, ctx.Error("max_keys", "Invalid max_keys", "max_keys must be at least 1"))
	}
	if _, err := rateLimitHeader(rl.Key); err != nil {
		diags = append(diags, ctx.Error("key", "Invalid key", err.Error()))
	}
	return diags
}

// rateLimitHeader returns the lower-case header name of a "header:NAME"
// key, "" for "client".
func rateLimitHeader(key string) (string, error) {
	if key == "client" {
		return "", nil
	}
	name, ok := strings.CutPrefix(key, "header:")
	if !ok {
		return "", fmt.Errorf(`key must be "client" or "header:NAME", got %q`, key)
	}
	name = strings.TrimSpace(name)
	if err := pagi.ValidateHeader(name, ""); err != nil {
		return "", fmt.Errorf("key names an invalid header: %q", name)
	}
	return strings.ToLower(name), nil
}

// BuildMiddleware creates the buckets on first use (one set per block, see
// RateLimit) and returns the middleware.
func (rl *RateLimit) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	header, err := rateLimitHeader(rl.Key)
	if err != nil {
		return nil, err
	}
	if !(rl.Rate > 0) || rl.Burst < 1 || rl.MaxKeys < 1 {
		return nil, errors.New("rate_limit: rate, burst and max_keys must be positive")
	}
	rl.mu.Lock()
	if rl.lim == nil {
		rl.lim = newRateLimiter(rl.Rate, rl.Burst, rl.MaxKeys)
		rl.lim.startSweeper()
	}
	lim := rl.lim
	rl.mu.Unlock()
	limit := strconv.Itoa(rl.Burst)
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan {
				return next(ctx, s, receive, send)
			}
			key := rateLimitKey{}
			if header != "" {
				key.v, key.header = s.Headers.Get(header)
			}
			if !key.header && s.Client != nil {
				key.v = s.Client.Host
			}
			ok, retry := lim.take(key)
			if ok {
				return next(ctx, s, receive, send)
			}
			return pagi.Respond(ctx, s, send, 429, pagi.Headers{
				{Name: "content-type", Value: "text/plain; charset=utf-8"},
				{Name: "retry-after", Value: strconv.FormatInt(retry, 10)},
				{Name: "ratelimit-limit", Value: limit},
				{Name: "ratelimit-remaining", Value: "0"},
			}, rateLimitBody)
		}
	}, nil
}

var rateLimitBody = []byte("429 too many requests\n")

// Cleanup stops the sweeper. It may be called more than once.
func (rl *RateLimit) Cleanup() error {
	rl.mu.Lock()
	lim := rl.lim
	rl.lim = nil
	rl.mu.Unlock()
	if lim != nil {
		lim.stop()
	}
	return nil
}

// rateLimitKey identifies a bucket: a header value, or a client address.
type rateLimitKey struct {
	v      string
	header bool
}

// rateLimitShards is the number of independently locked parts of the
// bucket table.
const rateLimitShards = 32

// rateLimiter is the bucket table of one rate_limit block.
type rateLimiter struct {
	rate   float64 // tokens per nanosecond
	burst  float64
	seed   maphash.Seed
	epoch  time.Time
	now    func() int64 // nanoseconds since epoch (monotonic); replaced by tests
	shards []rateLimitShard
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// rateLimitShard is one part of the table: a map and a least-recently-used
// list of at most cap buckets.
type rateLimitShard struct {
	mu   sync.Mutex
	m    map[rateLimitKey]*rateLimitBucket
	head rateLimitBucket // sentinel: head.next is the most recently used
	cap  int
	_    [40]byte // keep shards' locks on separate cache lines
}

// rateLimitBucket is one key's bucket, linked into its shard's LRU list.
type rateLimitBucket struct {
	key        rateLimitKey
	tokens     float64
	last       int64
	prev, next *rateLimitBucket
}

func newRateLimiter(rate float64, burst, maxKeys int) *rateLimiter {
	l := &rateLimiter{
		rate:  rate / 1e9,
		burst: float64(burst),
		seed:  maphash.MakeSeed(),
		epoch: time.Now(),
		done:  make(chan struct{}),
	}
	l.now = func() int64 { return int64(time.Since(l.epoch)) }
	n := min(rateLimitShards, maxKeys)
	l.shards = make([]rateLimitShard, n)
	for i := range l.shards {
		sh := &l.shards[i]
		sh.cap = maxKeys / n
		if i < maxKeys%n {
			sh.cap++
		}
		sh.m = make(map[rateLimitKey]*rateLimitBucket, min(sh.cap, 1024))
		sh.head.next, sh.head.prev = &sh.head, &sh.head
	}
	return l
}

// take takes a token from key's bucket. Without one it returns false and
// the whole seconds until a token will be there.
func (l *rateLimiter) take(key rateLimitKey) (bool, int64) {
	h := maphash.String(l.seed, key.v)
	if key.header {
		h = ^h
	}
	sh := &l.shards[h%uint64(len(l.shards))]
	now := l.now()
	sh.mu.Lock()
	b := sh.m[key]
	switch {
	case b != nil:
		// now was read before the lock: a request that read the clock
		// later may have been first here. Time never runs back for a
		// bucket, or it would lose tokens (and a Retry-After turn 1001).
		if now > b.last {
			b.tokens = min(l.burst, b.tokens+float64(now-b.last)*l.rate)
			b.last = now
		}
		b.unlink()
	case len(sh.m) >= sh.cap:
		b = sh.head.prev // the least recently used
		b.unlink()
		delete(sh.m, b.key)
		*b = rateLimitBucket{key: key, tokens: l.burst, last: now}
		sh.m[key] = b
	default:
		b = &rateLimitBucket{key: key, tokens: l.burst, last: now}
		sh.m[key] = b
	}
	b.prev, b.next = &sh.head, sh.head.next
	sh.head.next.prev = b
	sh.head.next = b
	ok := b.tokens >= 1
	var retry int64
	if ok {
		b.tokens--
	} else {
		retry = int64(math.Ceil((1 - b.tokens) / l.rate / 1e9))
	}
	sh.mu.Unlock()
	return ok, max(retry, 1)
}

func (b *rateLimitBucket) unlink() {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
}

// sweep drops the buckets that have refilled: they mean the same as none.
func (l *rateLimiter) sweep() {
	now := l.now()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for b := sh.head.prev; b != &sh.head; {
			prev := b.prev
			if b.tokens+float64(now-b.last)*l.rate >= l.burst {
				b.unlink()
				delete(sh.m, b.key)
			}
			b = prev
		}
		sh.mu.Unlock()
	}
}

// sweepInterval is how often the sweeper runs: about the time an empty
// bucket takes to refill, between 1 second and 1 minute.
func (l *rateLimiter) sweepInterval() time.Duration {
	refill := time.Duration(l.burst / l.rate)
	return min(max(refill, time.Second), time.Minute)
}

func (l *rateLimiter) startSweeper() {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(l.sweepInterval())
		defer t.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-t.C:
				l.sweep()
			}
		}
	}()
}

func (l *rateLimiter) stop() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
}

// len returns the number of buckets held.
func (l *rateLimiter) len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
