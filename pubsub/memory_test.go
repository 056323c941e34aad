package pubsub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer is a slog destination tests can count lines in.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns the number of lines holding sub.
func (b *logBuffer) count(sub string) int {
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	b := new(logBuffer)
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// recv waits for one message on sub.
func recv(t *testing.T, sub Subscription, within time.Duration) Message {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if !ok {
			t.Fatal("subscription ended")
		}
		return *m
	case <-time.After(within):
		t.Fatalf("no message within %v", within)
	}
	return Message{}
}

// waitClosed waits for sub.C to be closed, discarding messages.
func waitClosed(t *testing.T, sub Subscription) {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case _, ok := <-sub.C():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("C not closed")
		}
	}
}

func TestMemoryFanOutInOrder(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	ctx := context.Background()
	const subs, msgs = 50, 200
	var all []Subscription
	for range subs {
		s, err := m.Subscribe(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	other, _ := m.Subscribe(ctx, "other")
	for i := range msgs {
		data := []byte(strconv.Itoa(i))
		if err := m.Publish(ctx, "room", Message{Data: data, Event: "e", ID: "id" + strconv.Itoa(i), Origin: "o"}); err != nil {
			t.Fatal(err)
		}
		data[0] = 'x' // Publish copied it
	}
	for _, s := range all {
		for i := range msgs {
			got := recv(t, s, time.Second)
			if string(got.Data) != strconv.Itoa(i) || got.Channel != "room" || got.Event != "e" || got.ID != "id"+strconv.Itoa(i) || got.Origin != "o" {
				t.Fatalf("message %d = %+v", i, got)
			}
		}
	}
	select {
	case got := <-other.C():
		t.Fatalf("other channel got %+v", got)
	default:
	}
	st := m.Stats()
	if st.Published != msgs || st.Delivered != subs*msgs || st.Dropped != 0 || st.Channels != 2 || st.Subscribers != subs+1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestMemorySlowSubscriber(t *testing.T) {
	log, logs := newTestLogger()
	const queue, msgs = 4, 100
	m := NewMemory(MemoryOptions{QueueSize: queue, Logger: log})
	defer m.Close()
	ctx := context.Background()
	slow, _ := m.Subscribe(ctx, "room")
	fast, _ := m.Subscribe(ctx, "room")

	// The fast subscriber reads each message as soon as it is published;
	// the slow one reads nothing until the end.
	var publishing time.Duration
	for i := range msgs {
		start := time.Now()
		if err := m.Publish(ctx, "room", Message{Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
		publishing += time.Since(start)
		if got := recv(t, fast, time.Second); string(got.Data) != strconv.Itoa(i) {
			t.Fatalf("fast subscriber message %d = %q", i, got.Data)
		}
	}
	if publishing > 500*time.Millisecond {
		t.Errorf("publishing took %v: it blocked on the slow subscriber", publishing)
	}
	for i := range queue {
		if msg := recv(t, slow, time.Second); string(msg.Data) != strconv.Itoa(i) {
			t.Fatalf("slow subscriber message %d = %q", i, msg.Data)
		}
	}
	if d := slow.(DropCounter).Dropped(); d != msgs-queue {
		t.Errorf("slow dropped %d, want %d", d, msgs-queue)
	}
	if d := fast.(DropCounter).Dropped(); d != 0 {
		t.Errorf("fast dropped %d", d)
	}
	if st := m.Stats(); st.Dropped != msgs-queue || st.Delivered != msgs+queue {
		t.Errorf("stats = %+v", st)
	}
	// The 96 drops happened well within a second: one warning, counting
	// the first drop only (the rest wait for the next line).
	if n := logs.count("messages dropped"); n != 1 {
		t.Errorf("%d drop warnings, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "channel=room dropped=1 ") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("drop warning: %s", logs)
	}
}

func TestMemoryDropLogRate(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger()
	m := NewMemory(MemoryOptions{QueueSize: 1, Logger: log})
	defer m.Close()
	ctx := context.Background()
	first, _ := m.Subscribe(ctx, "a")
	publish := func(n int) {
		for range n {
			if err := m.Publish(ctx, "a", Message{Data: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(1001) // 1 queued, 1000 dropped
	if n := logs.count("messages dropped"); n != 1 {
		t.Fatalf("%d warnings after a burst, want 1", n)
	}
	// The channel is freed and made again: the rate still holds.
	first.Close()
	_, _ = m.Subscribe(ctx, "a")
	publish(3) // 1 queued, 2 dropped
	if n := logs.count("messages dropped"); n != 1 {
		t.Fatalf("%d warnings after the channel came back, want 1", n)
	}
	time.Sleep(dropLogEvery + 50*time.Millisecond)
	publish(1)
	if n := logs.count("messages dropped"); n != 2 {
		t.Fatalf("%d warnings a second later, want 2", n)
	}
	if !strings.Contains(logs.String(), "dropped=1002 ") {
		t.Errorf("the second line must count the drops since the first:\n%s", logs)
	}
}

func TestMemoryReplay(t *testing.T) {
	m := NewMemory(MemoryOptions{History: 5})
	defer m.Close()
	var r Replayer = m
	ctx := context.Background()
	// Published with nobody subscribed: kept all the same.
	for i := range 8 {
		if err := m.Publish(ctx, "feed", Message{Data: []byte{byte('a' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	sub, _ := m.Subscribe(ctx, "feed")
	if err := m.Publish(ctx, "feed", Message{Data: []byte("i")}); err != nil {
		t.Fatal(err)
	}
	last := recv(t, sub, time.Second)
	if last.ID == "" {
		t.Fatal("no ID assigned")
	}
	all, ok := r.Since("feed", "")
	if ok || all != nil {
		t.Errorf("Since empty id = %v, %v", all, ok)
	}
	// The assigned IDs of the 5 kept (e..i) increase.
	m.hub.mu.RLock()
	tp := m.hub.topics["feed"]
	m.hub.mu.RUnlock()
	var ids []string
	tp.mu.Lock()
	for i := range tp.ring {
		ids = append(ids, tp.ring[(tp.start+i)%len(tp.ring)].ID)
	}
	tp.mu.Unlock()
	if len(ids) != 5 || ids[4] != last.ID {
		t.Fatalf("history ids %v, last %q", ids, last.ID)
	}
	for i := 1; i < len(ids); i++ {
		a, _ := strconv.ParseUint(ids[i-1], 10, 64)
		b, _ := strconv.ParseUint(ids[i], 10, 64)
		if b <= a {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}

	msgs, ok := r.Since("feed", ids[1]) // after f: g h i
	if !ok || len(msgs) != 3 || string(msgs[0].Data) != "g" || string(msgs[2].Data) != "i" || msgs[2].ID != last.ID || msgs[0].Channel != "feed" {
		t.Fatalf("Since(f) = %+v, %v", msgs, ok)
	}
	if msgs, ok := r.Since("feed", last.ID); !ok || len(msgs) != 0 {
		t.Errorf("Since(newest) = %+v, %v", msgs, ok)
	}
	first, _ := strconv.ParseUint(ids[0], 10, 64)
	if msgs, ok := r.Since("feed", strconv.FormatUint(first-1, 10)); ok {
		t.Errorf("Since(evicted d) = %+v, want not found", msgs)
	}
	if _, ok := r.Since("feed", "nope"); ok {
		t.Error("Since(unknown) found")
	}
	if _, ok := r.Since("nochannel", ids[0]); ok {
		t.Error("Since on an unknown channel found")
	}

	// Publisher-set IDs are kept as they are.
	_ = m.Publish(ctx, "feed", Message{Data: []byte("j"), ID: "custom-1"})
	_ = m.Publish(ctx, "feed", Message{Data: []byte("k"), ID: "custom-2"})
	if msgs, ok := r.Since("feed", "custom-1"); !ok || len(msgs) != 1 || msgs[0].ID != "custom-2" {
		t.Errorf("Since(custom-1) = %+v, %v", msgs, ok)
	}

	// The history outlives the last subscriber.
	sub.Close()
	if _, ok := r.Since("feed", "custom-1"); !ok {
		t.Error("history lost when the last subscriber left")
	}
	if st := m.Stats(); st.Channels != 0 || st.Subscribers != 0 {
		t.Errorf("stats = %+v", st)
	}

	// Without history: nothing is kept and no IDs are assigned.
	plain := NewMemory(MemoryOptions{})
	defer plain.Close()
	s2, _ := plain.Subscribe(ctx, "c")
	_ = plain.Publish(ctx, "c", Message{Data: []byte("x")})
	if got := recv(t, s2, time.Second); got.ID != "" {
		t.Errorf("ID assigned without history: %q", got.ID)
	}
	if _, ok := plain.Since("c", ""); ok {
		t.Error("Since without history found")
	}
}

func TestMemoryHistoryChannelsBounded(t *testing.T) {
	m := NewMemory(MemoryOptions{History: 2, MaxHistoryChannels: 100})
	defer m.Close()
	ctx := context.Background()
	keep, _ := m.Subscribe(ctx, "active")
	_ = m.Publish(ctx, "active", Message{Data: []byte("x"), ID: "a1"})
	for i := range 1000 {
		_ = m.Publish(ctx, "idle-"+strconv.Itoa(i), Message{Data: []byte("x"), ID: "1"})
		_ = m.Publish(ctx, "idle-"+strconv.Itoa(i), Message{Data: []byte("y"), ID: "2"})
	}
	m.hub.mu.RLock()
	n, idle := len(m.hub.topics), m.hub.idle
	m.hub.mu.RUnlock()
	if idle > 100 || n != idle+1 {
		t.Errorf("%d topics, %d idle: want at most 100 idle + 1 active", n, idle)
	}
	if _, ok := m.Since("idle-999", "1"); !ok {
		t.Error("the newest channel lost its history")
	}
	if _, ok := m.Since("idle-0", "1"); ok {
		t.Error("the oldest channel kept its history")
	}
	if _, ok := m.Since("active", "a1"); !ok {
		t.Error("a channel with subscribers lost its history")
	}
	keep.Close()
}

func TestMemoryFreesChannels(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	ctx := context.Background()
	var subs []Subscription
	for i := range 100 {
		s, _ := m.Subscribe(ctx, "c"+strconv.Itoa(i%10))
		subs = append(subs, s)
	}
	if st := m.Stats(); st.Channels != 10 || st.Subscribers != 100 {
		t.Fatalf("stats = %+v", st)
	}
	for _, s := range subs {
		s.Close()
		s.Close() // idempotent
	}
	m.hub.mu.RLock()
	n := len(m.hub.topics)
	m.hub.mu.RUnlock()
	if st := m.Stats(); n != 0 || st.Channels != 0 || st.Subscribers != 0 {
		t.Errorf("%d topics left, stats %+v", n, st)
	}
}

func TestMemorySubscriptionEnds(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	ctx := context.Background()

	cctx, cancel := context.WithCancel(ctx)
	byCtx, _ := m.Subscribe(cctx, "a")
	byClose, _ := m.Subscribe(ctx, "a")
	byBroker, _ := m.Subscribe(ctx, "a")

	cancel()
	waitClosed(t, byCtx)
	byClose.Close()
	waitClosed(t, byClose)
	if st := m.Stats(); st.Subscribers != 1 {
		t.Errorf("stats after two ends = %+v", st)
	}
	if err := m.Publish(ctx, "a", Message{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Close keeps what is queued: the subscriber reads it, then C closes.
	if got := recv(t, byBroker, time.Second); string(got.Data) != "x" {
		t.Errorf("got %q", got.Data)
	}
	waitClosed(t, byBroker)
	byBroker.Close() // after the broker closed it: no panic

	if err := m.Publish(ctx, "a", Message{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v", err)
	}
	if _, err := m.Subscribe(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if m.Healthy() {
		t.Error("healthy after Close")
	}
	done, cancel2 := context.WithCancel(ctx)
	cancel2()
	if _, err := NewMemory(MemoryOptions{}).Subscribe(done, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe with a done ctx = %v", err)
	}
}

func TestMemoryLimits(t *testing.T) {
	m := NewMemory(MemoryOptions{MaxMessageBytes: 10})
	defer m.Close()
	ctx := context.Background()
	if err := m.Publish(ctx, "a", Message{Data: make([]byte, 10)}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	err := m.Publish(ctx, "a", Message{Data: make([]byte, 11)})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "11 bytes") {
		t.Errorf("above the limit: %v", err)
	}
	if err := NewMemory(MemoryOptions{}).Publish(ctx, "a", Message{Data: make([]byte, DefaultMaxMessageBytes+1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("default limit: %v", err)
	}
	if err := m.Publish(ctx, "", Message{}); err == nil {
		t.Error("empty channel accepted")
	}
	if _, err := m.Subscribe(ctx, ""); err == nil {
		t.Error("empty channel subscribed")
	}
}

// TestMemoryConcurrent churns subscribers and publishers at once; run with
// -race.
func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory(MemoryOptions{QueueSize: 8, History: 4, MaxHistoryChannels: 5, Logger: newDiscardLogger()})
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for p := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ch := "c" + strconv.Itoa(i%8)
				if err := m.Publish(ctx, ch, Message{Data: []byte(fmt.Sprint(p, i))}); err != nil && !errors.Is(err, ErrClosed) {
					t.Error(err)
					return
				}
				m.Since(ch, "1")
			}
		})
	}
	for range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithCancel(ctx)
				s, err := m.Subscribe(cctx, "c"+strconv.Itoa(i%8))
				if err != nil {
					cancel()
					if errors.Is(err, ErrClosed) {
						return
					}
					t.Error(err)
					return
				}
				for range 3 {
					select {
					case <-s.C():
					case <-time.After(time.Millisecond):
					}
				}
				if i%2 == 0 {
					cancel()
				} else {
					s.Close()
					cancel()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	_ = m.Close()
	close(stop)
	wg.Wait()
}

func newDiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
