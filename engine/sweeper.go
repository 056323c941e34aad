package engine

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connSweeper enforces the idle timeout and the first request's header
// timeout of a target's HTTP/1 connections with one goroutine, instead of
// net/http's per-connection read deadlines: with those, every request arms
// and clears runtime timers, a cost the hello benchmark shows (see
// docs/performance.md). The sweeper looks at its connections a few times
// per timeout, so a timeout fires up to a quarter of itself late.
//
// Partial request heads are timed by the request-head guard itself (see
// guardConn.armHeadTimer); request bodies and responses by the engine's
// stall timeout. Connections that net/http serves with HTTP/2 are not the
// sweeper's: targets with HTTP/2 keep net/http's own timeouts.
type connSweeper struct {
	idle, head time.Duration
	tick       time.Duration
	// now is the time of the last look (UnixNano).
	now atomic.Int64

	mu    sync.Mutex
	conns map[*guardConn]struct{}

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// Phases of a connection, as the sweeper sees them.
const (
	phaseNew    int32 = iota // accepted, no request yet
	phaseActive              // a request is being read or served
	phaseIdle                // between requests
)

// newConnSweeper starts a sweeper for the given timeouts (0: none).
func newConnSweeper(idle, head time.Duration) *connSweeper {
	shortest := idle
	if shortest <= 0 || (head > 0 && head < shortest) {
		shortest = head
	}
	s := &connSweeper{
		idle: idle, head: head,
		tick:  min(max(shortest/4, 5*time.Millisecond), time.Second),
		conns: map[*guardConn]struct{}{},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
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
		gc.phase.Store(phaseActive)
	case http.StateIdle:
		// The time of the sweeper's last look, not time.Now: no clock
		// read per request; the tick bounds the error.
		gc.since.Store(gc.sweeper.now.Load())
		gc.phase.Store(phaseIdle)
	case http.StateClosed, http.StateHijacked:
		gc.sweeper.remove(gc)
	}
}

// close stops the sweeper; the connections are net/http's to close.
func (s *connSweeper) close() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *connSweeper) run() {
	defer close(s.done)
	t := time.NewTicker(s.tick)
	defer t.Stop()
	var expired []*guardConn
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
				if s.idle > 0 && now-since > int64(s.idle) {
					expired = append(expired, gc)
				}
			}
		}
		s.mu.Unlock()
		for _, gc := range expired {
			if gc.phase.Load() == phaseActive {
				continue // a request started meanwhile
			}
			// As net/http's own timeouts do: the blocked read fails and the
			// connection's goroutine closes it.
			_ = gc.Conn.SetReadDeadline(time.Unix(0, 1))
		}
		clear(expired)
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}
