package pagi

import "errors"

// Errors returned by Send for events the server refuses. They are wrapped
// with detail; test with errors.Is.
var (
	// ErrInvalidHeader means a header name or value contains CR, LF or NUL,
	// or a name contains another control character or is empty.
	ErrInvalidHeader = errors.New("pagi: invalid header")
	// ErrUnexpectedEvent means an event of the wrong type for the scope, or
	// one sent out of order (a body before the start, a second start).
	ErrUnexpectedEvent = errors.New("pagi: unexpected event")
	// ErrInvalidEvent means an event whose fields break the spec (exactly
	// one of body/file/fh, non-negative offset, status range, ...).
	ErrInvalidEvent = errors.New("pagi: invalid event")
	// ErrResponseComplete means an event sent after the response ended.
	ErrResponseComplete = errors.New("pagi: response already complete")
	// ErrUnsupportedScope is what an App returns for a scope type it does
	// not handle; for lifespan scopes the server then treats lifespan as
	// unsupported.
	ErrUnsupportedScope = errors.New("pagi: unsupported scope type")
)
