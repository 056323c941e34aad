package pubsub

import (
	"bytes"
	"context"
	"errors"
	"github.com/pagihq/pagi/internal/redistest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// newTestRedis returns a broker on srv that is closed at cleanup.
func newTestRedis(t *testing.T, url string, opts RedisOptions) *Redis {
	t.Helper()
	opts.URL = url
	if opts.Logger == nil {
		opts.Logger = newDiscardLogger()
	}
	b, err := NewRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// control returns a plain go-redis client for inspecting srv.
func control(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond every 10 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitNumSub waits until channel has n subscribers at the server.
func waitNumSub(t *testing.T, ctl *redis.Client, channel string, n int64) {
	t.Helper()
	eventually(t, 3*time.Second, "PUBSUB NUMSUB "+channel, func() bool {
		m, err := ctl.PubSubNumSub(context.Background(), channel).Result()
		return err == nil && m[channel] == n
	})
}

// clientList returns CLIENT LIST as one field map per connection.
func clientList(t *testing.T, ctl *redis.Client) []map[string]string {
	t.Helper()
	out, err := ctl.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		list = append(list, f)
	}
	return list
}

// subscriberConns returns pagi's connections in subscriber mode.
func subscriberConns(t *testing.T, ctl *redis.Client) []map[string]string {
	var out []map[string]string
	for _, c := range clientList(t, ctl) {
		if c["name"] == redisClientName && strings.Contains(c["flags"], "P") {
			out = append(out, c)
		}
	}
	return out
}

// resumes publishes on pub until sub receives, and fails after within.
func resumes(t *testing.T, pub Broker, sub Subscription, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for i := 0; ; i++ {
		_ = pub.Publish(context.Background(), "room", Message{Data: []byte("back " + strconv.Itoa(i))})
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription ended")
			}
			if strings.HasPrefix(string(m.Data), "back ") {
				return
			}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriber did not resume within %v", within)
		}
	}
}

func TestRedisAcrossProcesses(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctl := control(t, srv)
	a := newTestRedis(t, srv.URL(), RedisOptions{})
	b := newTestRedis(t, srv.URL(), RedisOptions{})
	ctx := context.Background()

	sub, err := a.Subscribe(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := a.Subscribe(ctx, "other")
	waitNumSub(t, ctl, "room", 1)

	const n = 200
	for i := range n {
		msg := Message{
			Data:   append([]byte{0, 0xff, '\n'}, strconv.Itoa(i)...),
			Event:  "update",
			ID:     strconv.Itoa(i),
			Origin: "conn-b",
		}
		if err := b.Publish(ctx, "room", msg); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		got := recv(t, sub, 2*time.Second)
		want := append([]byte{0, 0xff, '\n'}, strconv.Itoa(i)...)
		if !bytes.Equal(got.Data, want) || got.Event != "update" || got.ID != strconv.Itoa(i) || got.Origin != "conn-b" || got.Channel != "room" {
			t.Fatalf("message %d = %+v", i, got)
		}
	}
	select {
	case m := <-other.C():
		t.Errorf("other channel got %+v", m)
	default:
	}
	if st := b.Stats(); st.Published != n {
		t.Errorf("b stats = %+v", st)
	}
	// The receiving side counts a message after handing it to the
	// subscriber's queue, so the last count may trail the last receive.
	eventually(t, 2*time.Second, "a's stats reach the messages received", func() bool {
		st := a.Stats()
		return st.Received == n && st.Delivered == n
	})
	if st := a.Stats(); st.Received != n || st.Delivered != n || st.Channels != 2 || st.Subscribers != 2 {
		t.Errorf("a stats = %+v", st)
	}

	// A message without Event, ID or Origin, and an empty one.
	_ = b.Publish(ctx, "room", Message{Data: []byte("plain")})
	_ = b.Publish(ctx, "room", Message{})
	if got := recv(t, sub, 2*time.Second); string(got.Data) != "plain" || got.Event != "" || got.ID != "" || got.Origin != "" {
		t.Errorf("plain = %+v", got)
	}
	if got := recv(t, sub, 2*time.Second); len(got.Data) != 0 {
		t.Errorf("empty = %+v", got)
	}
}

func TestRedisForeignPayload(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctl := control(t, srv)
	b := newTestRedis(t, srv.URL(), RedisOptions{})
	ctx := context.Background()
	sub, _ := b.Subscribe(ctx, "room")
	waitNumSub(t, ctl, "room", 1)
	for _, p := range []string{"hello from redis-cli", frameMagic + "\x05ab"} {
		if err := ctl.Publish(ctx, "room", p).Err(); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, sub, 2*time.Second); string(got.Data) != p || got.Event != "" || got.ID != "" {
			t.Errorf("foreign %q = %+v", p, got)
		}
	}
}

func TestRedisOneSubscriberConnection(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctl := control(t, srv)
	b := newTestRedis(t, srv.URL(), RedisOptions{})
	ctx := context.Background()

	const channels = 300
	var subs []Subscription
	for i := range channels {
		for range 2 {
			s, err := b.Subscribe(ctx, "ch"+strconv.Itoa(i))
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, s)
		}
	}
	waitNumSub(t, ctl, "ch"+strconv.Itoa(channels-1), 1)
	conns := subscriberConns(t, ctl)
	if len(conns) != 1 || conns[0]["sub"] != strconv.Itoa(channels) {
		t.Fatalf("subscriber connections: %v", conns)
	}

	_ = b.Publish(ctx, "ch7", Message{Data: []byte("x")})
	for _, s := range subs[14:16] {
		if got := recv(t, s, 2*time.Second); string(got.Data) != "x" {
			t.Errorf("got %q", got.Data)
		}
	}

	// One of two subscribers leaving keeps the channel; both leaving
	// unsubscribes it at Redis.
	for i := 0; i < len(subs); i += 2 {
		subs[i].Close()
	}
	waitNumSub(t, ctl, "ch0", 1)
	for i := 1; i < channels; i += 2 {
		subs[2*i+1].Close()
	}
	waitNumSub(t, ctl, "ch1", 0)
	waitNumSub(t, ctl, "ch0", 1)
	conns = subscriberConns(t, ctl)
	if len(conns) != 1 || conns[0]["sub"] != strconv.Itoa(channels/2) {
		t.Errorf("subscriber connections after leaving: %v", conns)
	}
	if st := b.Stats(); st.Channels != channels/2 || st.Subscribers != channels/2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRedisSubscriberConnectionKilled(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctl := control(t, srv)
	log, logs := newTestLogger()
	b := newTestRedis(t, srv.URL(), RedisOptions{Logger: log})
	ctx := context.Background()
	sub, _ := b.Subscribe(ctx, "room")
	waitNumSub(t, ctl, "room", 1)

	// An idle subscriber connection is kept (the reader's PINGs answer
	// its idle check) rather than replaced.
	before := subscriberConns(t, ctl)
	time.Sleep(2500 * time.Millisecond)
	after := subscriberConns(t, ctl)
	if len(before) != 1 || len(after) != 1 || before[0]["id"] != after[0]["id"] {
		t.Fatalf("idle subscriber connection replaced: %v then %v", before, after)
	}
	if after[0]["cmd"] != "ping" {
		t.Errorf("last command on the idle connection = %q, want ping", after[0]["cmd"])
	}

	if err := ctl.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	resumes(t, b, sub, 3*time.Second)
	if n := len(subscriberConns(t, ctl)); n != 1 {
		t.Errorf("%d subscriber connections after the kill", n)
	}
	if n := logs.count("pubsub redis unavailable"); n != 0 {
		t.Errorf("Redis stayed up but %d unavailable lines:\n%s", n, logs)
	}
}

func TestRedisOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	log, logs := newTestLogger()
	b := newTestRedis(t, srv.URL(), RedisOptions{Logger: log})
	ctx := context.Background()
	eventually(t, 3*time.Second, "healthy", b.Healthy)
	sub, _ := b.Subscribe(ctx, "room")
	waitNumSub(t, control(t, srv), "room", 1)
	if err := b.Publish(ctx, "room", Message{Data: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	recv(t, sub, 2*time.Second)

	srv.Stop()
	outage := time.Now()
	attempts := 0
	for time.Since(outage) < 3*time.Second {
		start := time.Now()
		err := b.Publish(ctx, "room", Message{Data: []byte("lost")})
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Publish took %v during the outage", d)
		}
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), srv.Addr()) {
			t.Fatalf("Publish during the outage = %v", err)
		}
		attempts++
		time.Sleep(100 * time.Millisecond)
	}
	if b.Healthy() {
		t.Error("healthy during the outage")
	}
	select {
	case m, ok := <-sub.C():
		t.Fatalf("subscriber got %+v (open %v) during the outage", m, ok)
	default:
	}
	if n := logs.count(`msg="pubsub redis unavailable"`); n != 1 {
		t.Errorf("%d unavailable lines over %d publishes, want 1:\n%s", n, attempts, logs)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "error=") {
		t.Errorf("the unavailable line should be a warning with the error:\n%s", logs)
	}

	srv.Start()
	restarted := time.Now()
	resumes(t, b, sub, 5*time.Second)
	t.Logf("resumed %v after the restart", time.Since(restarted).Round(time.Millisecond))
	if !b.Healthy() {
		t.Error("not healthy after the restart")
	}
	if n := logs.count(`msg="pubsub redis connected"`); n != 2 {
		t.Errorf("%d connected lines, want 2 (start, restart):\n%s", n, logs)
	}
	if n := logs.count(`msg="pubsub redis unavailable"`); n != 1 {
		t.Errorf("%d unavailable lines, want 1:\n%s", n, logs)
	}
}

func TestRedisHungServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	log, logs := newTestLogger()
	b := newTestRedis(t, srv.URL(), RedisOptions{Logger: log})
	ctx := context.Background()
	eventually(t, 3*time.Second, "healthy", b.Healthy)
	sub, _ := b.Subscribe(ctx, "room")
	waitNumSub(t, control(t, srv), "room", 1)

	srv.Pause()
	hung := time.Now()
	for time.Since(hung) < 2500*time.Millisecond {
		start := time.Now()
		err := b.Publish(ctx, "room", Message{Data: []byte("lost")})
		if d := time.Since(start); d > 2*time.Second || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Publish to a hung server: %v after %v", err, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b.Healthy() {
		t.Error("healthy while the server hangs")
	}
	srv.Resume()
	resumes(t, b, sub, 5*time.Second)
	if n, m := logs.count("pubsub redis unavailable"), logs.count("pubsub redis connected"); n != 1 || m != 2 {
		t.Errorf("%d unavailable, %d connected lines, want 1 and 2:\n%s", n, m, logs)
	}
}

func TestRedisStartsWhileDown(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t) // not running
	log, logs := newTestLogger()
	start := time.Now()
	b := newTestRedis(t, srv.URL(), RedisOptions{Logger: log})
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("NewRedis took %v", d)
	}
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, "room")
	if err != nil {
		t.Fatalf("Subscribe while down: %v", err)
	}
	eventually(t, 2*time.Second, "unavailable logged", func() bool { return logs.count("pubsub redis unavailable") == 1 })
	if b.Healthy() {
		t.Error("healthy while down")
	}
	if err := b.Publish(ctx, "room", Message{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Publish while down = %v", err)
	}

	srv.Start()
	eventually(t, 3*time.Second, "healthy after start", b.Healthy)
	resumes(t, b, sub, 5*time.Second)
	if n, m := logs.count("pubsub redis unavailable"), logs.count("pubsub redis connected"); n != 1 || m != 1 {
		t.Errorf("%d unavailable, %d connected lines, want 1 and 1:\n%s", n, m, logs)
	}
}

func TestRedisCloseAndLimits(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctl := control(t, srv)
	b, err := NewRedis(RedisOptions{URL: srv.URL(), MaxMessageBytes: 8, Logger: newDiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Publish(ctx, "a", Message{Data: make([]byte, 9)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("9 bytes = %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	byCtx, _ := b.Subscribe(cctx, "a")
	byClose, _ := b.Subscribe(ctx, "b")
	byBroker, _ := b.Subscribe(ctx, "c")
	waitNumSub(t, ctl, "a", 1)
	cancel()
	waitClosed(t, byCtx)
	waitNumSub(t, ctl, "a", 0)
	byClose.Close()
	waitClosed(t, byClose)
	waitNumSub(t, ctl, "b", 0)

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, byBroker)
	waitNumSub(t, ctl, "c", 0)
	if err := b.Publish(ctx, "a", Message{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v", err)
	}
	if _, err := b.Subscribe(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close = %v", err)
	}
	if b.Healthy() {
		t.Error("healthy after Close")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	eventually(t, 2*time.Second, "connections closed", func() bool {
		for _, c := range clientList(t, ctl) {
			if c["name"] == redisClientName {
				return false
			}
		}
		return true
	})
}

func TestNewRedisOptions(t *testing.T) {
	b, err := NewRedis(RedisOptions{URL: "redis://127.0.0.1:1/2?dial_timeout=3s", PoolSize: 3, ReadTimeout: 2 * time.Second, Logger: newDiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	o := b.client.Options()
	if o.PoolSize != 3 || o.DialTimeout != 3*time.Second || o.ReadTimeout != 2*time.Second || o.WriteTimeout != DefaultRedisTimeout || o.DB != 2 || o.ClientName != "pagi" || o.MaxRetries > 0 {
		t.Errorf("options = pool %d dial %v read %v write %v db %d name %q retries %d",
			o.PoolSize, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.DB, o.ClientName, o.MaxRetries)
	}
	for _, bad := range []RedisOptions{{}, {URL: "http://x"}, {URL: "redis://x", PoolSize: -1}} {
		if _, err := NewRedis(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestValidateURL(t *testing.T) {
	for _, u := range []string{
		"redis://localhost", "redis://:pw@127.0.0.1:6379/0", "rediss://user:pw@redis.internal:6380/2",
		"unix:///run/redis.sock", "unix:///run/redis.sock?db=3", "redis://[::1]:6379", "redis://h?dial_timeout=2s",
	} {
		if err := ValidateURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{
		"", "localhost:6379", "http://localhost", "redis://h:0", "redis://h:99999", "unix://",
		"redis://h/x", "redis://h/1/2", "redis:opaque", "redis://h?nonsense=1", "redis://:sec ret@h:bad",
	} {
		err := ValidateURL(u)
		if err == nil {
			t.Errorf("%q: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "sec ret") {
			t.Errorf("%q: error repeats the password: %v", u, err)
		}
	}
}

func TestFrame(t *testing.T) {
	for _, m := range []Message{
		{},
		{Data: []byte("hello")},
		{Data: []byte{0, 1, 2, 0xff}, Event: "e", ID: "42", Origin: "conn-1"},
		{Data: bytes.Repeat([]byte("x"), 70000), Event: strings.Repeat("e", 300)},
	} {
		got := decodeFrame("ch", string(encodeFrame(m)))
		if !bytes.Equal(got.Data, m.Data) || got.Event != m.Event || got.ID != m.ID || got.Origin != m.Origin || got.Channel != "ch" {
			t.Errorf("round trip of %.40v = %.40v", m, got)
		}
	}
	for _, raw := range []string{"", "plain", frameMagic, frameMagic + "\x09abc", frameMagic + "\x00\x00\xff"} {
		if got := decodeFrame("ch", raw); string(got.Data) != raw || got.Event != "" || got.ID != "" || got.Origin != "" {
			t.Errorf("foreign %q = %+v", raw, got)
		}
	}
}
