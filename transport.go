package pagi

import (
	"context"
	"sync"
)

// Transport is the outbound flow-control handle of a scope (the spec's
// pagi.transport). Its methods may be called from any goroutine.
type Transport interface {
	// BufferedAmount is the number of bytes accepted by Send but not yet
	// written to the connection.
	BufferedAmount() int
	// HighWaterMark is the buffered amount at or above which Send blocks.
	HighWaterMark() int
	// LowWaterMark is the amount the buffer must fall under to release it.
	LowWaterMark() int
	// OnHighWater registers fn to run each time the buffer reaches the high
	// water mark; it runs at once when the buffer is above it already.
	OnHighWater(fn func())
	// OnDrain registers fn to run each time the buffer falls from above the
	// high water mark to below the low one.
	OnDrain(fn func())
}

// FlowControl implements Transport for servers: the server calls Add when a
// send queues bytes, Done when bytes reach the connection, and Wait before
// queueing more. Safe for concurrent use.
type FlowControl struct {
	high, low int

	mu       sync.Mutex
	buffered int
	above    bool
	onHigh   []func()
	onDrain  []func()
	released chan struct{} // closed on drain; nil while below high water
}

var _ Transport = (*FlowControl)(nil)

// NewFlowControl returns a FlowControl with the given marks; low is clamped
// to high.
func NewFlowControl(high, low int) *FlowControl {
	if low > high {
		low = high
	}
	return &FlowControl{high: high, low: low}
}

// BufferedAmount implements Transport.
func (f *FlowControl) BufferedAmount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buffered
}

// HighWaterMark implements Transport.
func (f *FlowControl) HighWaterMark() int { return f.high }

// LowWaterMark implements Transport.
func (f *FlowControl) LowWaterMark() int { return f.low }

// OnHighWater implements Transport.
func (f *FlowControl) OnHighWater(fn func()) {
	f.mu.Lock()
	f.onHigh = append(f.onHigh, fn)
	above := f.above
	f.mu.Unlock()
	if above {
		fn()
	}
}

// OnDrain implements Transport.
func (f *FlowControl) OnDrain(fn func()) {
	f.mu.Lock()
	f.onDrain = append(f.onDrain, fn)
	f.mu.Unlock()
}

// Add records n bytes queued for writing; reaching the high water mark
// fires the OnHighWater callbacks.
func (f *FlowControl) Add(n int) {
	f.mu.Lock()
	f.buffered += n
	var cbs []func()
	if !f.above && f.high > 0 && f.buffered >= f.high {
		f.above = true
		f.released = make(chan struct{})
		cbs = append(cbs, f.onHigh...)
	}
	f.mu.Unlock()
	for _, fn := range cbs {
		fn()
	}
}

// Done records n bytes written (or dropped); falling below the low water
// mark from above the high one fires the OnDrain callbacks and releases
// Wait.
func (f *FlowControl) Done(n int) {
	f.mu.Lock()
	f.buffered -= n
	if f.buffered < 0 {
		f.buffered = 0
	}
	var cbs []func()
	if f.above && f.buffered < f.low || f.above && f.buffered == 0 {
		f.above = false
		close(f.released)
		f.released = nil
		cbs = append(cbs, f.onDrain...)
	}
	f.mu.Unlock()
	for _, fn := range cbs {
		fn()
	}
}

// Wait blocks while the buffer is above the high water mark, until it
// drains or ctx ends.
func (f *FlowControl) Wait(ctx context.Context) error {
	f.mu.Lock()
	ch := f.released
	f.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release wakes every waiter and forgets the buffer, for a connection that
// closed (the spec resolves drain waiters on close rather than failing
// them).
func (f *FlowControl) Release() {
	f.mu.Lock()
	f.buffered = 0
	if f.above {
		f.above = false
		close(f.released)
		f.released = nil
	}
	f.mu.Unlock()
}
