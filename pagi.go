// Package pagi is the Go mapping of PAGI, the Perl Asynchronous Gateway
// Interface (spec 0.3): an application is called once per connection scope
// with a Scope describing it and two functions, Receive and Send, through
// which it exchanges events with the server.
//
// The package holds only the protocol: the App, Receive, Send and Middleware
// types, the Scope, one struct per event type, and the connection and
// transport handles. Servers (package engine) and apps (package handlers, or
// a user's own code) both build on it. It imports nothing else of pagi's.
//
// # Events
//
// Every event is a pointer to a struct that implements Event; its Type method
// returns the PAGI type string ("http.response.start", ...). Apps send events
// with Send and read them with Receive:
//
//	func hello(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
//		if s.Type != pagi.ScopeHTTP {
//			return pagi.ErrUnsupportedScope
//		}
//		if err := send(ctx, &pagi.HTTPResponseStart{Status: 200,
//			Headers: pagi.Headers{{Name: "content-type", Value: "text/plain"}}}); err != nil {
//			return err
//		}
//		return send(ctx, &pagi.HTTPResponseBody{Body: []byte("hello")})
//	}
//
// # Concurrency
//
// A Scope, its Receive and its Send belong to one App call. Receive may be
// called by one goroutine at a time; Send may be called by one goroutine at a
// time; the two may run concurrently with each other. Neither may be used
// after the App has returned. Events passed to Send are read during the call
// and not retained, so an App may reuse (or pre-build) the events it sends.
package pagi

import "context"

// Version is the PAGI protocol version this package implements.
const Version = "0.3"

// SpecVersion is the PAGI specification version this package implements.
const SpecVersion = "0.3"

// App is a PAGI application. It is called once per scope: per HTTP request,
// per WebSocket session, per SSE stream and once per process for lifespan.
// Returning nil means the scope finished normally; returning an error (or
// panicking) means it failed, and the server answers as the spec says (a 500
// when no response has started, a closed connection when one has).
type App func(ctx context.Context, scope *Scope, receive Receive, send Send) error

// Receive returns the next inbound event of the scope, blocking until one is
// available. After the peer has gone it returns the scope's disconnect event
// (for example *HTTPDisconnect) on every call. It returns an error only when
// ctx ends first or the server cannot deliver events any more.
type Receive func(ctx context.Context) (Event, error)

// Send hands an outbound event to the server. It returns once the server has
// accepted the event, which may mean waiting for the peer to read (flow
// control). It fails for an event that is malformed, out of order or of the
// wrong family for the scope; sending after the peer has gone is a silent
// no-op, as the spec requires.
type Send func(ctx context.Context, event Event) error

// Middleware wraps an App and returns the App to run in its place. A
// middleware that changes top-level scope fields must work on a copy (see
// Scope.Clone), so changes flow downward only.
type Middleware func(App) App

// Chain returns one middleware that applies mws in the order given, the first
// outermost: Chain(a, b)(app) is a(b(app)).
func Chain(mws ...Middleware) Middleware {
	return func(app App) App {
		for i := len(mws) - 1; i >= 0; i-- {
			app = mws[i](app)
		}
		return app
	}
}
