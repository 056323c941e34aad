package pubsub

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
)

// MemoryOptions configures NewMemory. The zero value is usable.
type MemoryOptions struct {
	// QueueSize is the number of messages buffered per subscriber
	// (default DefaultQueueSize, 256).
	QueueSize int
	// History is the number of recent messages kept per channel for
	// Since; 0 (the default) keeps none and the broker is then no
	// Replayer in practice (Since always reports not found).
	History int
	// MaxHistoryChannels bounds the channels without subscribers whose
	// history is kept (default DefaultMaxHistoryChannels, 10,000); beyond
	// it the least recently published ones are forgotten. Channels with
	// subscribers always keep their history.
	MaxHistoryChannels int
	// MaxMessageBytes is the largest Message.Data Publish accepts (default
	// DefaultMaxMessageBytes, 1 MiB); larger messages fail with
	// ErrTooLarge.
	MaxMessageBytes int
	// Logger receives the slow-subscriber warnings (default
	// slog.Default()).
	Logger *slog.Logger
}

// MemoryStats is a snapshot of a memory broker's counters.
type MemoryStats struct {
	// Published counts successful Publish calls, Delivered the messages
	// put in a subscriber's queue and Dropped those a subscriber missed
	// because its queue was full.
	Published, Delivered, Dropped uint64
	// Channels is the number of channels with at least one subscriber,
	// Subscribers the number of live subscriptions.
	Channels, Subscribers int
}

// Memory is the in-process broker: it carries messages between the
// connections of one process only. With several worker processes, a
// message published in one worker never reaches subscribers in another;
// use Redis for that.
//
// Slow subscribers: each subscriber has a bounded queue (QueueSize). A
// message that does not fit a subscriber's full queue is dropped for that
// subscriber only; the others still get it, and Publish never blocks on a
// slow subscriber. Drops are counted per subscriber (DropCounter) and in
// total (Stats), and logged at warn level at most once per second per
// channel with the number dropped since the previous line.
//
// Ordering: every subscriber of a channel sees that channel's messages in
// the same order, the order in which Publish calls for that channel were
// serialised; so messages from one publisher arrive in the order it
// published them.
//
// History: with History > 0 the broker keeps the last History messages of
// each channel (also while nobody is subscribed) and implements Replayer.
// A published message without an ID gets a decimal one that increases
// with every message (it starts from the broker's creation time in
// microseconds, so IDs also keep increasing across restarts).
//
// Publish copies Message.Data once; all subscribers (and the history) share
// that copy and must not modify it.
//
// A Memory is safe for concurrent use. Its zero value is not usable; call
// NewMemory.
type Memory struct {
	hub      *hub
	maxBytes int
}

var (
	_ Broker   = (*Memory)(nil)
	_ Replayer = (*Memory)(nil)
)

// NewMemory returns an in-process broker configured by opts.
func NewMemory(opts MemoryOptions) *Memory {
	maxBytes := opts.MaxMessageBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	return &Memory{
		hub:      newHub("memory", opts.QueueSize, opts.History, opts.MaxHistoryChannels, opts.Logger),
		maxBytes: maxBytes,
	}
}

// Publish delivers msg to every current subscriber of channel without
// blocking (see the slow-subscriber policy on Memory). It fails with
// ErrTooLarge when msg.Data exceeds MaxMessageBytes and with ErrClosed
// after Close. ctx is not used: publishing never waits.
func (m *Memory) Publish(_ context.Context, channel string, msg Message) error {
	if channel == "" {
		return errEmptyChannel
	}
	if len(msg.Data) > m.maxBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(msg.Data), m.maxBytes)
	}
	msg.Data = bytes.Clone(msg.Data)
	return m.hub.publish(channel, msg)
}

// Subscribe returns a subscription to channel. It ends, closing C, when
// ctx is done, when its Close is called or when the broker is closed. It
// fails with ErrClosed after Close and with ctx's error when ctx is
// already done.
func (m *Memory) Subscribe(ctx context.Context, channel string) (Subscription, error) {
	s, err := m.hub.subscribe(ctx, channel)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Since implements Replayer: it returns the messages of channel published
// after the one with ID lastID, oldest first. ok is false when lastID is
// not in the history (never seen, or older than the last History
// messages), or when History is 0.
func (m *Memory) Since(channel, lastID string) (msgs []Message, ok bool) {
	return m.hub.since(channel, lastID)
}

// Stats returns a snapshot of the broker's counters.
func (m *Memory) Stats() MemoryStats {
	channels, subscribers := m.hub.counts()
	return MemoryStats{
		Published:   m.hub.fanned.Load(),
		Delivered:   m.hub.delivered.Load(),
		Dropped:     m.hub.dropped.Load(),
		Channels:    channels,
		Subscribers: subscribers,
	}
}

// Healthy reports whether the broker accepts messages: true until Close.
func (m *Memory) Healthy() bool { return !m.hub.isClosed() }

// Close ends every subscription and makes Publish and Subscribe fail with
// ErrClosed. It is idempotent and always returns nil.
func (m *Memory) Close() error {
	m.hub.close()
	return nil
}
