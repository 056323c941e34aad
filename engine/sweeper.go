package engine

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connSweeper enforces the idle timeout, the first request's header timeout
// and the write stall timeout (request_timeout) of a target's HTTP/1
// connections with one goroutine, instead of per-connection deadlines: with
// those, every request arms and clears runtime timers, a cost the hello and
// static benchmarks show (see docs/performance.md). The sweeper looks at its
// connections four times per timeout (at most once a second), so a timeout
// fires up to half of itself (at most 2 s) late, and never early.
//
// Partial request heads are timed by the request-head guard itself (see
// guardConn.armHeadTimer), request bodies by the engine's read deadlines.
// A write is timed from its start (guardConn.Write and ReadFrom note the
// sweeper's clock): one blocked longer than the stall timeout gets a write
// deadline in the past, so it fails as a timeout, and so does every later
// write on that connection. Connections that net/http serves with HTTP/2
// are not the sweeper's: targets with HTTP/2 keep net/http's own timeouts
// and the engine's write deadlines.
type connSweeper struct {
	idle, head, write time.Duration
	tick              time.Duration
	// now is the time of the last look (UnixNano).
	now atomic.Int64

	mu    sync.Mutex
	conns map[*guardConn]struct{}

	stopOnce sync.Once
	stop     chan struct{}
}

// Phases of a connection, as the sweeper sees them.
const (
	phaseNew     int32 = iota // accepted, no request yet
	phaseActive               // a request is being read or served
	phaseIdle                 // between requests
	phaseExpired              // timed out by the sweeper, which owns its ending
)

// newConnSweeper starts a sweeper for the given timeouts (0: none).
func newConnSweeper(idle, head, write time.Duration) *connSweeper {
	var shortest time.Duration
	for _, d := range []time.Duration{idle, head, write} {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	s := &connSweeper{
		idle: idle, head: head, write: write,
		tick:  min(max(shortest/4, 5*time.Millisecond), time.Second),
		conns: map[*guardConn]struct{}{},
		stop:  make(chan struct{}),
	}
	s.now.Store(time.Now().UnixNano())
	go s.run()
	return s
}

// add starts watching gc, a connection just accepted.
func (s *connSweeper) add(gc *guardConn) {
	gc.sweeper = s
	gc.phase.Store(phaseNew)
	gc.since.Store(time.Now().UnixNano())
	s.mu.Lock()
	s.conns[gc] = struct{}{}
	s.mu.Unlock()
}

// timesWrites reports whether the sweeper bounds the writes of its
// connections, so the engine need not arm write deadlines.
func (s *connSweeper) timesWrites() bool { return s != nil && s.write > 0 }

// remove stops watching gc.
func (s *connSweeper) remove(gc *guardConn) {
	s.mu.Lock()
	delete(s.conns, gc)
	s.mu.Unlock()
}

// connStateForSweeper records a net/http state change of c (called from
// the ConnState hook).
func connStateForSweeper(c net.Conn, st http.ConnState) {
	gc, ok := c.(*guardConn)
	if !ok || gc.sweeper == nil {
		return
	}
	switch st {
	case http.StateActive:
		// Usually Active already: the guard claims a connection when a
		// head begins (guardConn.claimHead).
		if gc.phase.Load() != phaseActive {
			gc.phase.Store(phaseActive)
		}
	case http.StateIdle:
		// The time of the sweeper's last look, not time.Now: no clock
		// read per request; the tick bounds the error.
		gc.since.Store(gc.sweeper.now.Load())
		gc.phase.Store(phaseIdle)
	case http.StateClosed, http.StateHijacked:
		gc.sweeper.remove(gc)
	}
}

// close stops the sweeper once it has no connection left to time, without
// waiting for that: requests a retired target still runs (past a reload's
// grace, or a shutdown that gave up) keep their timeouts, the write stall
// timeout above all. The connections are net/http's to close.
func (s *connSweeper) close() {
	s.stopOnce.Do(func() { close(s.stop) })
}

// empty reports whether the sweeper has no connection to time.
func (s *connSweeper) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) == 0
}

func (s *connSweeper) run() {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	var expired []*guardConn
	stopping := false
	for {
		now := time.Now().UnixNano()
		s.now.Store(now)
		expired = expired[:0]
		s.mu.Lock()
		for gc := range s.conns {
			since := gc.since.Load()
			switch gc.phase.Load() {
			case phaseNew:
				if s.head > 0 && now-since > int64(s.head) {
					expired = append(expired, gc)
				}
			case phaseIdle:
				// since, like writeSince, is the clock of a look up to a
				// tick before the connection went idle: the extra tick keeps
				// the timeout from firing early.
				if s.idle > 0 && now-since > int64(s.idle+s.tick) {
					expired = append(expired, gc)
				}
			}
			if s.write > 0 {
				// A write in progress for longer than the stall timeout
				// fails, as with a write deadline (the extra tick, as for
				// idle, keeps it from firing early). The swap to -1 claims
				// the write: one that has just finished is left alone, and
				// one that finishes before the deadline lands marks the
				// connection failed itself (see guardConn.endWrite).
				if w := gc.writeSince.Load(); w > 0 && now-w > int64(s.write+s.tick) && gc.writeSince.CompareAndSwap(w, -1) {
					_ = gc.setInnerWrite(time.Unix(0, 1))
				}
			}
		}
		s.mu.Unlock()
		for _, gc := range expired {
			// Claim the connection, unless a request or a head began
			// meanwhile (guardConn.claimHead claims it the other way).
			if p := gc.phase.Load(); p == phaseActive || !gc.phase.CompareAndSwap(p, phaseExpired) {
				continue
			}
			// As net/http's own timeouts do: the blocked read fails and the
			// connection's goroutine closes it.
			_ = gc.setInnerRead(time.Unix(0, 1))
		}
		clear(expired)
		if stopping {
			if s.empty() {
				return
			}
			<-t.C
			continue
		}
		select {
		case <-s.stop:
			stopping = true
		case <-t.C:
		}
	}
}
