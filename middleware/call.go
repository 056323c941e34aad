package middleware

import (
	"context"
	"sync"

	"github.com/pagihq/pagi"
)

// call is the per-request scratch space of a middleware that edits the
// scope it passes on or the headers of the response start: the scope copy,
// the header buffers, the start event copy and the wrapping send function,
// all reused from a pool so that such a middleware allocates nothing per
// request. Like the engine's exchange, a call is dead once the app it wraps
// returns: apps must not keep the scope or events past that point (see
// package pagi).
//
// Use: c := getCall(); set c.next and c.onStart (and c.origin, c.flag for
// the hook's own use); pass c.send and c.editScope(s) on; putCall(c) after
// next returns.
type call struct {
	// next is the send being wrapped.
	next pagi.Send
	// onStart, when set, returns the headers a response start should carry
	// instead of h, or h itself to leave the event as it is. It may build
	// them in c.respHdrs.
	onStart func(c *call, h pagi.Headers) pagi.Headers
	// origin and flag carry a value for onStart (cors: the origin and
	// whether it is allowed).
	origin string
	flag   bool
	// add holds fields for onStart to add (addMissing); one is room for a
	// single per-request field.
	add pagi.Headers
	one [1]pagi.Header

	scope    pagi.Scope
	values   map[string]any
	reqHdrs  pagi.Headers
	respHdrs pagi.Headers

	httpStart   pagi.HTTPResponseStart
	sseStart    pagi.SSEStart
	wsAccept    pagi.WebSocketAccept
	sseDecline  pagi.SSEHTTPResponseStart
	wsDenyStart pagi.WebSocketHTTPResponseStart

	// sendFn is c.send as a func value, bound once per pooled call.
	sendFn pagi.Send

	// dirty says which of the larger fields above were written, so putCall
	// clears only those.
	dirty uint8
}

// Bits of call.dirty.
const (
	dirtyScope uint8 = 1 << iota
	dirtyHTTPStart
	dirtySSEStart
	dirtyWSAccept
	dirtySSEDecline
	dirtyWSDenyStart
)

var callPool = sync.Pool{New: func() any {
	c := &call{}
	c.sendFn = c.send
	return c
}}

// getCall returns a call from the pool.
func getCall() *call { return callPool.Get().(*call) }

// putCall clears c (so the pool keeps no request data alive) and returns it.
func putCall(c *call) {
	c.next, c.onStart, c.origin, c.flag, c.add, c.one = nil, nil, "", false, nil, [1]pagi.Header{}
	if c.dirty&dirtyScope != 0 {
		c.scope = pagi.Scope{}
	}
	if len(c.values) > 0 {
		clear(c.values)
	}
	clear(c.reqHdrs[:cap(c.reqHdrs)])
	clear(c.respHdrs[:cap(c.respHdrs)])
	c.reqHdrs, c.respHdrs = c.reqHdrs[:0], c.respHdrs[:0]
	if c.dirty&dirtyHTTPStart != 0 {
		c.httpStart = pagi.HTTPResponseStart{}
	}
	if c.dirty&dirtySSEStart != 0 {
		c.sseStart = pagi.SSEStart{}
	}
	if c.dirty&dirtyWSAccept != 0 {
		c.wsAccept = pagi.WebSocketAccept{}
	}
	if c.dirty&dirtySSEDecline != 0 {
		c.sseDecline = pagi.SSEHTTPResponseStart{}
	}
	if c.dirty&dirtyWSDenyStart != 0 {
		c.wsDenyStart = pagi.WebSocketHTTPResponseStart{}
	}
	c.dirty = 0
	callPool.Put(c)
}

// editScope copies s into the call and returns the copy, to be changed and
// passed on instead of s. Values is copied one level deep (into a pooled
// map), so keys set on the copy stay out of s; State, already a copy per
// request made by the engine, is shared.
func (c *call) editScope(s *pagi.Scope) *pagi.Scope {
	c.scope = *s
	c.dirty |= dirtyScope
	if s.Values != nil {
		c.scope.Values = c.valuesFrom(s.Values)
	}
	return &c.scope
}

// setValue sets a key of the copied scope's Values.
func (c *call) setValue(key string, v any) {
	if c.scope.Values == nil {
		c.scope.Values = c.valuesFrom(nil)
		c.dirty |= dirtyScope
	}
	c.scope.Values[key] = v
}

func (c *call) valuesFrom(src map[string]any) map[string]any {
	if c.values == nil {
		c.values = make(map[string]any, max(4, len(src)))
	}
	for k, v := range src {
		c.values[k] = v
	}
	return c.values
}

// send is the wrapping send function: response starts get the headers of
// onStart, in a copy of the event (the app may send the same pre-built
// event on every request, so the event it handed over is never changed).
func (c *call) send(ctx context.Context, ev pagi.Event) error {
	if c.onStart != nil {
		if h, ok := setaStartHeaders(ev); ok {
			if nh := c.onStart(c, h); !sameHeaders(nh, h) {
				ev = c.withStartHeaders(ev, nh)
			}
		}
	}
	return c.next(ctx, ev)
}

// addMissing is an onStart hook: h with the fields of c.add that h does not
// have (by name, any case), built in c.respHdrs; h itself when it has them
// all.
func addMissing(c *call, h pagi.Headers) pagi.Headers {
	out := h
	for _, f := range c.add {
		if setaHasHeader(h, f.Name) {
			continue
		}
		if sameHeaders(out, h) {
			c.respHdrs = append(c.respHdrs[:0], h...)
		}
		c.respHdrs = append(c.respHdrs, f)
		out = c.respHdrs
	}
	return out
}

// sameHeaders reports whether a and b are the same slice.
func sameHeaders(a, b pagi.Headers) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// withStartHeaders returns a copy of the start event ev that carries h,
// kept in the call.
func (c *call) withStartHeaders(ev pagi.Event, h pagi.Headers) pagi.Event {
	switch e := ev.(type) {
	case *pagi.HTTPResponseStart:
		c.httpStart = *e
		c.httpStart.Headers = h
		c.dirty |= dirtyHTTPStart
		return &c.httpStart
	case *pagi.SSEStart:
		c.sseStart = *e
		c.sseStart.Headers = h
		c.dirty |= dirtySSEStart
		return &c.sseStart
	case *pagi.WebSocketAccept:
		c.wsAccept = *e
		c.wsAccept.Headers = h
		c.dirty |= dirtyWSAccept
		return &c.wsAccept
	case *pagi.SSEHTTPResponseStart:
		c.sseDecline = *e
		c.sseDecline.Headers = h
		c.dirty |= dirtySSEDecline
		return &c.sseDecline
	case *pagi.WebSocketHTTPResponseStart:
		c.wsDenyStart = *e
		c.wsDenyStart.Headers = h
		c.dirty |= dirtyWSDenyStart
		return &c.wsDenyStart
	}
	return ev
}
