// Package pubsub carries messages between connections: a publisher sends a
// Message to a named channel and every current subscriber of that channel
// receives it. Two backends implement Broker: memory (one process) and
// redis (many processes sharing a Redis server).
//
// Delivery is at-most-once: a subscriber that is not connected, or too slow
// to keep up, misses messages. Messages from one publisher to one channel
// arrive in the order they were published.
package pubsub

import (
	"context"
	"errors"
)

// Message is one published message.
type Message struct {
	// Channel is the channel the message was published to (set by the
	// broker on delivery; ignored by Publish).
	Channel string
	// Data is the payload. Publish does not keep the caller's slice, so
	// it may be reused once Publish returns. On delivery, Data may be
	// shared by every subscriber of the message: treat it as read-only.
	Data []byte
	// Event and ID are optional SSE fields carried along (the sse handler
	// sends them as "event:" and "id:").
	Event string
	ID    string
	// Origin identifies the publishing connection, so a subscriber can skip
	// its own messages; empty when unknown.
	Origin string
}

// Broker is a publish/subscribe backend. Its methods are safe for
// concurrent use. Publish never blocks on a slow subscriber: a subscriber
// whose queue is full misses the message (see the backends' docs).
type Broker interface {
	// Publish sends msg to every current subscriber of channel. It fails
	// fast with an error wrapping ErrUnavailable when the backend cannot be
	// reached, and with ErrClosed after Close.
	Publish(ctx context.Context, channel string, msg Message) error
	// Subscribe returns a subscription to channel that lasts until ctx ends
	// or the subscription is closed.
	Subscribe(ctx context.Context, channel string) (Subscription, error)
	// Close ends every subscription and releases the backend's resources.
	Close() error
}

// Subscription is one subscriber's view of a channel.
type Subscription interface {
	// C delivers the channel's messages, in order, through a bounded
	// queue; it is closed when the subscription ends (messages already
	// queued can still be read first).
	C() <-chan *Message
	// Close ends the subscription; C is closed soon after. It is
	// idempotent and may be called from any goroutine, also after the
	// broker was closed.
	Close()
}

// Replayer is implemented by brokers that keep recent messages per channel
// (the memory backend with history), so a reconnecting SSE client can get
// what it missed.
type Replayer interface {
	// Since returns the messages published to channel after the one whose
	// ID is lastID, oldest first; ok is false when lastID is not in the
	// history (too old or unknown).
	Since(channel, lastID string) (msgs []Message, ok bool)
}

// Errors returned by brokers.
var (
	// ErrUnavailable means the backend cannot be reached right now.
	ErrUnavailable = errors.New("pubsub: backend unavailable")
	// ErrClosed means the broker was closed.
	ErrClosed = errors.New("pubsub: broker closed")
	// ErrTooLarge means a message exceeds the broker's size limit.
	ErrTooLarge = errors.New("pubsub: message too large")
)
