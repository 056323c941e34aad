package pagi

import (
	"sync"
	"sync/atomic"
)

// Standard disconnect reasons of PAGI 0.3 (abnormal ends only).
const (
	ReasonClientClosed     = "client_closed"
	ReasonClientTimeout    = "client_timeout"
	ReasonIdleTimeout      = "idle_timeout"
	ReasonKeepaliveTimeout = "keepalive_timeout"
	ReasonWriteTimeout     = "write_timeout"
	ReasonWriteError       = "write_error"
	ReasonReadError        = "read_error"
	ReasonProtocolError    = "protocol_error"
	ReasonServerShutdown   = "server_shutdown"
	ReasonServerError      = "server_error"
	ReasonBodyTooLarge     = "body_too_large"
	ReasonQueueOverflow    = "queue_overflow"
)

// Connection is the per-request connection handle of an http scope (the
// spec's pagi.connection). Its methods may be called from any goroutine.
type Connection interface {
	// IsConnected reports whether the client is still there; it goes from
	// true to false once and never back.
	IsConnected() bool
	// DisconnectReason is the reason of an abnormal end, "" while open or
	// after a clean completion.
	DisconnectReason() string
	// OnDisconnect registers fn to run (with the reason) if the request ends
	// abnormally; it runs at once when that already happened.
	OnDisconnect(fn func(reason string))
	// OnComplete registers fn to run when the response was delivered in
	// full. Exactly one of the OnDisconnect or OnComplete callbacks runs.
	OnComplete(fn func())
	// ResponseStarted reports whether the response start has been processed
	// (including a 500 the server made up).
	ResponseStarted() bool
	// ResponseComplete reports whether the final body or trailers were sent.
	ResponseComplete() bool
	// Disconnected returns a channel closed on an abnormal end (the spec's
	// disconnect_future); it is never closed after a clean completion.
	Disconnected() <-chan struct{}
}

const (
	connOpen uint32 = iota
	connDisconnected
	connCompleted
)

// ConnState implements Connection for servers: the server calls
// MarkStarted, MarkComplete, Disconnect and Finish as the request goes on;
// apps see only the Connection methods. The zero value is an open
// connection. Safe for concurrent use.
type ConnState struct {
	state    atomic.Uint32
	started  atomic.Bool
	complete atomic.Bool

	// Probe, when set, reports the reason the peer is gone ("" while it is
	// there). IsConnected consults it so the server need not watch every
	// request; a non-empty answer disconnects the state.
	Probe func() string
	// Watch, when set, is called once, the first time anyone registers a
	// callback or asks for the Disconnected channel, so the server can start
	// watching the peer only for requests that care.
	Watch func()

	mu      sync.Mutex
	reason  string
	onDisc  []func(string)
	onComp  []func()
	done    chan struct{}
	watched bool
}

var _ Connection = (*ConnState)(nil)

// Reset returns c to the open state for reuse; callbacks are dropped.
func (c *ConnState) Reset() {
	c.mu.Lock()
	c.state.Store(connOpen)
	c.started.Store(false)
	c.complete.Store(false)
	c.Probe, c.Watch = nil, nil
	c.reason, c.onDisc, c.onComp, c.done, c.watched = "", c.onDisc[:0], c.onComp[:0], nil, false
	c.mu.Unlock()
}

// IsConnected implements Connection.
func (c *ConnState) IsConnected() bool {
	switch c.state.Load() {
	case connDisconnected:
		return false
	case connCompleted:
		return true
	}
	if c.Probe != nil {
		if r := c.Probe(); r != "" {
			c.Disconnect(r)
			return false
		}
	}
	return true
}

// DisconnectReason implements Connection.
func (c *ConnState) DisconnectReason() string {
	if !c.IsConnected() {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.reason
	}
	return ""
}

// OnDisconnect implements Connection.
func (c *ConnState) OnDisconnect(fn func(reason string)) {
	c.mu.Lock()
	if c.state.Load() == connDisconnected {
		r := c.reason
		c.mu.Unlock()
		fn(r)
		return
	}
	c.onDisc = append(c.onDisc, fn)
	watch := c.needWatchLocked()
	c.mu.Unlock()
	if watch != nil {
		watch()
	}
}

// OnComplete implements Connection.
func (c *ConnState) OnComplete(fn func()) {
	c.mu.Lock()
	if c.state.Load() == connCompleted {
		c.mu.Unlock()
		fn()
		return
	}
	c.onComp = append(c.onComp, fn)
	c.mu.Unlock()
}

// ResponseStarted implements Connection.
func (c *ConnState) ResponseStarted() bool { return c.started.Load() }

// ResponseComplete implements Connection.
func (c *ConnState) ResponseComplete() bool { return c.complete.Load() }

// Disconnected implements Connection.
func (c *ConnState) Disconnected() <-chan struct{} {
	c.mu.Lock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.state.Load() == connDisconnected {
			close(c.done)
		}
	}
	d := c.done
	watch := c.needWatchLocked()
	c.mu.Unlock()
	if watch != nil {
		watch()
	}
	return d
}

func (c *ConnState) needWatchLocked() func() {
	if c.watched || c.Watch == nil || c.state.Load() != connOpen {
		return nil
	}
	c.watched = true
	return c.Watch
}

// MarkStarted records that the response start was processed.
func (c *ConnState) MarkStarted() { c.started.Store(true) }

// MarkComplete records that the final part of the response was sent.
func (c *ConnState) MarkComplete() { c.complete.Store(true) }

// Disconnect ends the connection abnormally with reason, in the spec's
// order: not connected, reason set, Disconnected closed, callbacks run. It
// does nothing once the state has ended.
func (c *ConnState) Disconnect(reason string) {
	c.mu.Lock()
	if !c.state.CompareAndSwap(connOpen, connDisconnected) {
		c.mu.Unlock()
		return
	}
	c.reason = reason
	if c.done != nil {
		close(c.done)
	}
	cbs := c.onDisc
	c.onDisc = nil
	c.mu.Unlock()
	for _, fn := range cbs {
		fn(reason)
	}
}

// Finish ends the connection state cleanly after a full response: the
// OnComplete callbacks run. It does nothing once the state has ended.
func (c *ConnState) Finish() {
	c.mu.Lock()
	if !c.state.CompareAndSwap(connOpen, connCompleted) {
		c.mu.Unlock()
		return
	}
	cbs := c.onComp
	c.onComp = nil
	c.mu.Unlock()
	for _, fn := range cbs {
		fn()
	}
}
