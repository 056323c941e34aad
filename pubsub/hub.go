package pubsub

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults shared by both backends.
const (
	// DefaultQueueSize is the per-subscriber queue length used when
	// QueueSize is 0.
	DefaultQueueSize = 256
	// DefaultMaxMessageBytes is the largest Message.Data accepted when
	// MaxMessageBytes is 0.
	DefaultMaxMessageBytes = 1 << 20
	// DefaultMaxHistoryChannels is the number of channels without
	// subscribers whose history the memory backend keeps when
	// MaxHistoryChannels is 0.
	DefaultMaxHistoryChannels = 10000
)

// dropLogEvery is the shortest interval between two "messages dropped"
// warnings for one channel.
const dropLogEvery = time.Second

// errEmptyChannel is returned for an empty channel name.
var errEmptyChannel = errors.New("pubsub: empty channel name")

// DropCounter is implemented by the subscriptions of both backends: Dropped
// reports how many messages were dropped for this subscriber because its
// queue was full. Handlers may type-assert a Subscription to it.
type DropCounter interface {
	Dropped() uint64
}

// hub is the in-process fan-out shared by both backends: channel name →
// topic, each topic holding its subscribers' bounded queues and, for the
// memory backend with history, a ring of recent messages.
//
// Locking: h.mu guards topics, closed and the counts; t.mu guards the
// contents of a topic. The order is h.mu before t.mu. Every change to a
// topic's subscriber list holds both, so h.mu alone is enough to read
// len(t.subs). Publishing holds only t.mu while it fans out, so publishers
// to different channels never contend; a topic taken out of the map is
// marked dead under t.mu, and a publisher that finds it dead looks the
// channel up again.
type hub struct {
	backend   string // "memory" or "redis", for log lines
	queueSize int
	history   int // messages kept per channel; 0 = none
	maxIdle   int // topics kept for their history alone
	log       *slog.Logger
	// onEmpty, when set, is called (without locks held) after a channel
	// loses its last subscriber.
	onEmpty func(channel string)

	mu          sync.RWMutex
	closed      bool
	topics      map[string]*topic
	subscribers int
	active      int // topics with at least one subscriber
	idle        int // topics without subscribers, kept for their history

	// seq numbers messages recorded in history: it assigns missing IDs
	// and dates topics for eviction. It starts at the hub's creation time
	// in microseconds so assigned IDs keep increasing across restarts.
	seq atomic.Uint64

	fanned, delivered, dropped atomic.Uint64
	drops                      dropLog
}

// topic is one channel of a hub.
type topic struct {
	name string
	used atomic.Uint64 // seq of the last publish (or creation)

	mu   sync.Mutex
	dead bool // removed from hub.topics; publishers must look up again
	subs []*subscription
	// ring holds up to hub.history messages; once full, start is the
	// index of the oldest.
	ring  []Message
	start int
}

func newHub(backend string, queueSize, history, maxIdle int, log *slog.Logger) *hub {
	if queueSize <= 0 {
		queueSize = DefaultQueueSize
	}
	if history < 0 {
		history = 0
	}
	if maxIdle <= 0 {
		maxIdle = DefaultMaxHistoryChannels
	}
	if log == nil {
		log = slog.Default()
	}
	h := &hub{
		backend:   backend,
		queueSize: queueSize,
		history:   history,
		maxIdle:   maxIdle,
		log:       log,
		topics:    make(map[string]*topic),
	}
	h.seq.Store(uint64(time.Now().UnixMicro()))
	return h
}

// subscribe adds a subscriber to channel. It ends when ctx is done, when
// its Close is called or when the hub closes.
func (h *hub) subscribe(ctx context.Context, channel string) (*subscription, error) {
	if channel == "" {
		return nil, errEmptyChannel
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &subscription{hub: h, c: make(chan *Message, h.queueSize)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	t := h.topics[channel]
	if t == nil {
		t = &topic{name: channel}
		t.used.Store(h.seq.Load())
		h.topics[channel] = t
	} else if len(t.subs) == 0 {
		h.idle--
	}
	t.mu.Lock()
	if len(t.subs) == 0 {
		h.active++
	}
	s.topic, s.idx = t, len(t.subs)
	t.subs = append(t.subs, s)
	t.mu.Unlock()
	h.subscribers++
	h.mu.Unlock()

	stop := context.AfterFunc(ctx, s.end)
	s.stopMu.Lock()
	s.stop = stop
	s.stopMu.Unlock()
	return s, nil
}

// publish fans msg out to the current subscribers of channel, never
// blocking: a subscriber whose queue is full misses msg. With history it
// also records msg, assigning an ID when it has none. The caller hands over
// msg.Data, which subscribers share.
func (h *hub) publish(channel string, msg Message) error {
	msg.Channel = channel
	for {
		h.mu.RLock()
		if h.closed {
			h.mu.RUnlock()
			return ErrClosed
		}
		t := h.topics[channel]
		h.mu.RUnlock()
		if t == nil {
			if h.history == 0 {
				h.fanned.Add(1) // nobody listens here
				return nil
			}
			var err error
			if t, err = h.historyTopic(channel); err != nil {
				return err
			}
		}

		t.mu.Lock()
		if t.dead {
			t.mu.Unlock()
			continue
		}
		if h.history > 0 {
			seq := h.seq.Add(1)
			if msg.ID == "" {
				msg.ID = strconv.FormatUint(seq, 10)
			}
			t.record(msg, h.history)
			t.used.Store(seq)
		}
		var delivered, dropped uint64
		shared := &msg // one copy for every subscriber; they only read it
		for _, s := range t.subs {
			select {
			case s.c <- shared:
				delivered++
			default:
				dropped++
				s.dropped.Add(1)
			}
		}
		t.mu.Unlock()

		h.fanned.Add(1)
		if delivered > 0 {
			h.delivered.Add(delivered)
		}
		if dropped > 0 {
			h.dropped.Add(dropped)
			for _, r := range h.drops.note(channel, dropped, time.Now()) {
				h.log.Warn("pubsub subscriber too slow, messages dropped",
					"backend", h.backend, "channel", r.channel, "dropped", r.n, "queue_size", h.queueSize)
			}
		}
		return nil
	}
}

// historyTopic returns channel's topic, creating it (without subscribers,
// for its history) if needed.
func (h *hub) historyTopic(channel string) (*topic, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if t := h.topics[channel]; t != nil {
		return t, nil
	}
	t := &topic{name: channel}
	t.used.Store(h.seq.Load())
	h.topics[channel] = t
	h.idle++
	if h.idle > h.maxIdle {
		h.evictLocked(t)
	}
	return t, nil
}

// evictLocked drops the least recently published topics without
// subscribers until a tenth of maxIdle is free again (so a steady stream of
// new channels pays for a scan only every maxIdle/10 channels). keep is
// never evicted. h.mu must be held for writing.
func (h *hub) evictLocked(keep *topic) {
	idle := make([]*topic, 0, h.idle)
	for _, t := range h.topics {
		if len(t.subs) == 0 && t != keep {
			idle = append(idle, t)
		}
	}
	slices.SortFunc(idle, func(a, b *topic) int {
		ua, ub := a.used.Load(), b.used.Load()
		switch {
		case ua < ub:
			return -1
		case ua > ub:
			return 1
		}
		return 0
	})
	target := h.maxIdle - h.maxIdle/10
	for _, t := range idle {
		if h.idle <= target {
			break
		}
		t.mu.Lock()
		t.dead, t.ring = true, nil
		t.mu.Unlock()
		delete(h.topics, t.name)
		h.idle--
	}
}

// record appends msg to the topic's history ring of at most max messages.
// t.mu must be held.
func (t *topic) record(msg Message, max int) {
	if len(t.ring) < max {
		t.ring = append(t.ring, msg)
		return
	}
	t.ring[t.start] = msg
	t.start = (t.start + 1) % max
}

// since returns the recorded messages after the newest one with ID lastID.
// t.mu must be held.
func (t *topic) since(lastID string) ([]Message, bool) {
	n := len(t.ring)
	at := func(i int) Message { return t.ring[(t.start+i)%n] }
	for i := n - 1; i >= 0; i-- {
		if at(i).ID == lastID {
			out := make([]Message, 0, n-1-i)
			for j := i + 1; j < n; j++ {
				out = append(out, at(j))
			}
			return out, true
		}
	}
	return nil, false
}

// since implements Replayer for the hub.
func (h *hub) since(channel, lastID string) ([]Message, bool) {
	h.mu.RLock()
	t := h.topics[channel]
	h.mu.RUnlock()
	if t == nil || lastID == "" {
		return nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.since(lastID)
}

// count returns the number of local subscribers of channel.
func (h *hub) count(channel string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if t := h.topics[channel]; t != nil {
		return len(t.subs)
	}
	return 0
}

// channels returns the channels that have local subscribers.
func (h *hub) channels() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, h.active)
	for name, t := range h.topics {
		if len(t.subs) > 0 {
			out = append(out, name)
		}
	}
	return out
}

// counts returns the number of channels with subscribers and of
// subscribers.
func (h *hub) counts() (channels, subscribers int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.active, h.subscribers
}

// isClosed reports whether close was called.
func (h *hub) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

// close ends every subscription and makes publish and subscribe fail with
// ErrClosed. It is idempotent.
func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	var ended []*subscription
	for _, t := range h.topics {
		t.mu.Lock()
		for _, s := range t.subs {
			s.idx = -1
			ended = append(ended, s)
		}
		t.subs, t.ring, t.dead = nil, nil, true
		t.mu.Unlock()
	}
	h.topics = nil
	h.active, h.idle, h.subscribers = 0, 0, 0
	h.mu.Unlock()
	for _, s := range ended {
		close(s.c)
		s.stopContext()
	}
}

// subscription is a hub subscriber. It implements Subscription and
// DropCounter.
type subscription struct {
	hub     *hub
	c       chan *Message
	dropped atomic.Uint64

	// topic and idx (its index in topic.subs, -1 once ended) are guarded
	// by topic.mu; whoever sets idx to -1 closes c, exactly once.
	topic *topic
	idx   int

	stopMu sync.Mutex
	stop   func() bool // unregisters the context.AfterFunc
}

// C returns the queue of messages; it is closed when the subscription ends.
func (s *subscription) C() <-chan *Message { return s.c }

// Close ends the subscription and closes C. It is idempotent and safe to
// call concurrently with anything.
func (s *subscription) Close() {
	s.stopContext()
	s.end()
}

// Dropped returns the number of messages this subscriber missed because its
// queue was full.
func (s *subscription) Dropped() uint64 { return s.dropped.Load() }

func (s *subscription) stopContext() {
	s.stopMu.Lock()
	stop := s.stop
	s.stopMu.Unlock()
	if stop != nil {
		stop()
	}
}

// end removes the subscriber from its topic and closes C, once. It frees
// the topic when it was the last subscriber and the topic holds no history.
func (s *subscription) end() {
	h := s.hub
	h.mu.Lock()
	t := s.topic
	t.mu.Lock()
	if s.idx < 0 {
		t.mu.Unlock()
		h.mu.Unlock()
		return
	}
	last := len(t.subs) - 1
	t.subs[s.idx] = t.subs[last]
	t.subs[s.idx].idx = s.idx
	t.subs[last] = nil
	t.subs = t.subs[:last]
	s.idx = -1
	empty := len(t.subs) == 0
	if empty {
		h.active--
		if len(t.ring) == 0 {
			t.dead = true
			delete(h.topics, t.name)
		} else {
			h.idle++
		}
	}
	t.mu.Unlock()
	h.subscribers--
	if h.idle > h.maxIdle {
		h.evictLocked(nil)
	}
	h.mu.Unlock()

	close(s.c)
	if empty && h.onEmpty != nil {
		h.onEmpty(t.name)
	}
}

// dropLog rate-limits the slow-subscriber warnings to one line per channel
// per dropLogEvery, each carrying the number of drops since the previous
// line. Its state is kept apart from topics, so a channel whose
// subscribers come and go keeps its rate. Entries quiet for longer than
// dropLogEvery are swept, at most once per dropLogEvery, reporting what
// they still hold.
type dropLog struct {
	mu        sync.Mutex
	channels  map[string]*dropState
	lastSweep time.Time
}

type dropState struct {
	pending uint64    // drops not reported yet
	last    time.Time // of the last line for the channel
}

// dropReport is one warning line to log.
type dropReport struct {
	channel string
	n       uint64
}

// note records n drops on channel at now and returns the lines to log.
func (d *dropLog) note(channel string, n uint64, now time.Time) []dropReport {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.channels == nil {
		d.channels = make(map[string]*dropState)
	}
	var out []dropReport
	if now.Sub(d.lastSweep) >= dropLogEvery {
		d.lastSweep = now
		for name, st := range d.channels {
			if name != channel && now.Sub(st.last) >= dropLogEvery {
				if st.pending > 0 {
					out = append(out, dropReport{name, st.pending})
				}
				delete(d.channels, name)
			}
		}
	}
	st := d.channels[channel]
	if st == nil {
		st = &dropState{}
		d.channels[channel] = st
	}
	st.pending += n
	if now.Sub(st.last) >= dropLogEvery {
		out = append(out, dropReport{channel, st.pending})
		st.pending, st.last = 0, now
	}
	return out
}
