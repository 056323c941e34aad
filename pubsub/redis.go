package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of the Redis backend.
const (
	// DefaultRedisTimeout is the dial, read and write timeout used when the
	// options and the URL leave them unset.
	DefaultRedisTimeout = time.Second
	// redisHealthEvery is how often the health goroutine checks Redis.
	redisHealthEvery = time.Second
	// Reconnection backoff of the subscriber connection.
	redisMinBackoff = 100 * time.Millisecond
	redisMaxBackoff = 5 * time.Second
	// redisClientName is the CLIENT SETNAME of pagi's connections when the
	// URL sets none (visible in CLIENT LIST).
	redisClientName = "pagi"
)

// RedisOptions configures NewRedis.
type RedisOptions struct {
	// URL locates the server: redis://[user:password@]host[:port][/db],
	// rediss://... (TLS) or unix:///path/to/redis.sock, with the query
	// parameters redis.ParseURL accepts. Required.
	URL string
	// PoolSize is the number of connections used for PUBLISH (default:
	// go-redis's, 10 per CPU). Subscriptions use one more connection.
	PoolSize int
	// DialTimeout, ReadTimeout and WriteTimeout bound connecting to Redis
	// and each command (default DefaultRedisTimeout, 1 s, unless set in
	// the URL). While Redis is unreachable, Publish fails within about
	// DialTimeout.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// QueueSize is the number of messages buffered per local subscriber
	// (default DefaultQueueSize, 256).
	QueueSize int
	// MaxMessageBytes is the largest Message.Data Publish accepts (default
	// DefaultMaxMessageBytes, 1 MiB).
	MaxMessageBytes int
	// Logger receives connection state changes and slow-subscriber
	// warnings (default slog.Default()).
	Logger *slog.Logger
}

// RedisStats is a snapshot of a Redis broker's counters.
type RedisStats struct {
	// Published counts successful Publish calls and Received the messages
	// that arrived from Redis for local subscribers.
	Published, Received uint64
	// Delivered counts messages put in a local subscriber's queue and
	// Dropped those a subscriber missed because its queue was full.
	Delivered, Dropped uint64
	// Channels is the number of channels with local subscribers (each is
	// subscribed once at Redis), Subscribers the number of local
	// subscriptions.
	Channels, Subscribers int
}

// Redis is a broker for many processes sharing a Redis server: a message
// published by any process reaches the subscribers of every process.
//
// Connections: PUBLISH goes through a pool (PoolSize); all the
// subscriptions of the process share a single subscriber connection, on
// which a channel is subscribed when its first local subscriber arrives
// and unsubscribed when its last one leaves. One goroutine reads that
// connection and fans messages out to local subscribers with the same
// bounded queues and slow-subscriber policy as Memory (a full queue drops
// the message for that subscriber only; Publish and the reader never
// block on a subscriber).
//
// Messages travel as one Redis message each, in a small binary frame so
// Event, ID and Origin cross processes: the bytes 00 70 67 01, then Event,
// ID and Origin, each as a uvarint length followed by its bytes, then Data
// as is. A payload that is not such a frame (published by redis-cli or
// another service) is delivered verbatim as Data. Delivery is at-most-once
// and Redis keeps nothing: Redis is no Replayer.
//
// Outages: NewRedis never touches the network, so pagi starts while Redis
// is down. A health goroutine checks Redis every second. While Redis is
// unreachable, Publish fails at once (or within about DialTimeout when the
// outage has not been noticed yet) with an error wrapping ErrUnavailable
// that names the address, and Healthy reports false; subscriptions stay
// open and start receiving again once Redis is back (messages published in
// between are lost). Each state change is logged once: "pubsub redis
// unavailable" at warn with the error, "pubsub redis connected" at info.
//
// A Redis is safe for concurrent use.
type Redis struct {
	addr, network string
	dialTimeout   time.Duration
	readTimeout   time.Duration
	writeTimeout  time.Duration
	maxBytes      int
	log           *slog.Logger

	client *redis.Client
	hub    *hub

	ctx       context.Context // canceled by Close
	cancel    context.CancelFunc
	closed    atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup
	kick      chan struct{} // asks the health goroutine to check now

	// wireMu serialises changes to the subscriber connection: ps is nil
	// while it is down, and wired holds the channels subscribed on it.
	wireMu     sync.Mutex
	ps         *redis.PubSub
	wired      map[string]bool
	wireClosed bool

	stateMu   sync.Mutex
	state     redisState
	lastErr   error         // why the state is down
	changedAt time.Time     // of the last state change
	upCh      chan struct{} // closed at the next change to up

	published, received atomic.Uint64
}

type redisState int

const (
	stateUnknown redisState = iota // not checked yet
	stateUp
	stateDown
)

var _ Broker = (*Redis)(nil)

// NewRedis returns a broker on the Redis server at opts.URL. It checks the
// options but never connects: connections are made in the background, and
// until the first one succeeds Publish may fail with ErrUnavailable.
func NewRedis(opts RedisOptions) (*Redis, error) {
	ropt, err := parseRedisURL(opts.URL)
	if err != nil {
		return nil, err
	}
	if opts.PoolSize < 0 || opts.DialTimeout < 0 || opts.ReadTimeout < 0 || opts.WriteTimeout < 0 {
		return nil, errors.New("pubsub: redis pool size and timeouts must not be negative")
	}
	if opts.PoolSize > 0 {
		ropt.PoolSize = opts.PoolSize
	}
	setTimeout(&ropt.DialTimeout, opts.DialTimeout)
	setTimeout(&ropt.ReadTimeout, opts.ReadTimeout)
	setTimeout(&ropt.WriteTimeout, opts.WriteTimeout)
	// No retries: PUBLISH is not idempotent (delivery is at-most-once) and
	// a failing Redis must make Publish fail fast.
	ropt.MaxRetries = -1
	ropt.DialerRetries = 1
	if ropt.ClientName == "" {
		ropt.ClientName = redisClientName
	}
	ropt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	maxBytes := opts.MaxMessageBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{
		addr:         ropt.Addr,
		network:      ropt.Network,
		dialTimeout:  ropt.DialTimeout,
		readTimeout:  ropt.ReadTimeout,
		writeTimeout: ropt.WriteTimeout,
		maxBytes:     maxBytes,
		log:          log,
		client:       redis.NewClient(ropt),
		hub:          newHub("redis", opts.QueueSize, 0, 0, log),
		ctx:          ctx,
		cancel:       cancel,
		kick:         make(chan struct{}, 1),
		upCh:         make(chan struct{}),
	}
	r.hub.onEmpty = r.reconcile
	r.wg.Add(2)
	go r.healthLoop()
	go r.readLoop()
	return r, nil
}

// setTimeout sets *dst to v when v is positive, else to the default when
// the URL left it unset.
func setTimeout(dst *time.Duration, v time.Duration) {
	switch {
	case v > 0:
		*dst = v
	case *dst <= 0:
		*dst = DefaultRedisTimeout
	}
}

// ValidateURL checks the form of a Redis URL (scheme, host and port, socket
// path, database number, query options) without connecting. Its errors
// never repeat the URL, which may hold a password.
func ValidateURL(raw string) error {
	_, err := parseRedisURL(raw)
	return err
}

func parseRedisURL(raw string) (*redis.Options, error) {
	if raw == "" {
		return nil, errors.New("pubsub: invalid redis url: the url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL
		}
		return nil, fmt.Errorf("pubsub: invalid redis url: %w", err)
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Opaque != "" {
			return nil, fmt.Errorf("pubsub: invalid redis url: write %s://host:port", u.Scheme)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("pubsub: invalid redis url: port %q is not a number from 1 to 65535", p)
			}
		}
	case "unix":
		if u.Path == "" {
			return nil, errors.New("pubsub: invalid redis url: a unix url needs a socket path: unix:///path/to/redis.sock")
		}
	case "":
		return nil, errors.New("pubsub: invalid redis url: missing scheme redis://, rediss:// or unix://")
	default:
		return nil, fmt.Errorf("pubsub: invalid redis url: unsupported scheme %q (want redis, rediss or unix)", u.Scheme)
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("pubsub: invalid redis url: %w", err)
	}
	return opt, nil
}

// Publish sends msg to every subscriber of channel in every process. It
// fails with ErrTooLarge when msg.Data exceeds MaxMessageBytes, with
// ErrClosed after Close, and with an error wrapping ErrUnavailable (and
// naming the address) when Redis cannot be reached: at once while the
// broker knows Redis is down, else within about DialTimeout + WriteTimeout
// + ReadTimeout. A message is sent at most once: a failed Publish is not
// retried.
func (r *Redis) Publish(ctx context.Context, channel string, msg Message) error {
	if channel == "" {
		return errEmptyChannel
	}
	if r.closed.Load() {
		return ErrClosed
	}
	if len(msg.Data) > r.maxBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(msg.Data), r.maxBytes)
	}
	if down, err := r.downErr(); down {
		return r.unavailable(err)
	}
	start := time.Now()
	err := r.client.Publish(ctx, channel, encodeFrame(msg)).Err()
	switch {
	case err == nil:
		r.published.Add(1)
		return nil
	case r.closed.Load():
		return ErrClosed
	case ctx.Err() != nil:
		return fmt.Errorf("pubsub: redis at %s: publish to %q: %w", r.addr, channel, ctx.Err())
	case isRedisReply(err):
		if isTransientReply(err) {
			return r.unavailable(err)
		}
		// Redis answered but refused (NOAUTH, OOM, READONLY...).
		return fmt.Errorf("pubsub: redis at %s: publish to %q: %w", r.addr, channel, err)
	case errors.Is(err, redis.ErrPoolTimeout):
		// Every connection is busy: overloaded rather than down.
		return r.unavailable(err)
	}
	r.setDown(start, err)
	return r.unavailable(err)
}

// isRedisReply reports whether err is an error reply from the server.
func isRedisReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// isTransientReply reports whether a Redis error reply means that the
// server cannot serve right now (starting, busy, failing over) rather than
// that the request is wrong.
func isTransientReply(err error) bool {
	for _, p := range [...]string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// unavailable wraps err in ErrUnavailable with the address.
func (r *Redis) unavailable(err error) error {
	if err == nil {
		err = errors.New("not connected yet")
	}
	return fmt.Errorf("%w: redis at %s: %w", ErrUnavailable, r.addr, err)
}

// Subscribe returns a subscription to channel that receives what any
// process publishes there. It ends, closing C, when ctx is done, when its
// Close is called or when the broker is closed. It succeeds while Redis is
// down: the subscription then starts receiving once Redis is back. It
// fails with ErrClosed after Close.
func (r *Redis) Subscribe(ctx context.Context, channel string) (Subscription, error) {
	s, err := r.hub.subscribe(ctx, channel)
	if err != nil {
		return nil, err
	}
	r.reconcile(channel)
	return s, nil
}

// reconcile subscribes channel on the subscriber connection when it has
// local subscribers and unsubscribes it when it has none. Without a
// connection it does nothing: the next connection subscribes every channel
// that has local subscribers.
func (r *Redis) reconcile(channel string) {
	r.wireMu.Lock()
	defer r.wireMu.Unlock()
	if r.ps == nil {
		return
	}
	want := r.hub.count(channel) > 0
	if want == r.wired[channel] {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.dialTimeout+r.writeTimeout)
	defer cancel()
	var err error
	if want {
		r.wired[channel] = true
		err = r.ps.Subscribe(ctx, channel)
	} else {
		delete(r.wired, channel)
		err = r.ps.Unsubscribe(ctx, channel)
	}
	// On failure the connection is broken; go-redis remembers the channel
	// set, and the reader replaces the connection anyway.
	if err != nil {
		r.log.Debug("pubsub redis subscription change failed", "addr", r.addr, "channel", channel, "error", err)
	}
}

// Healthy reports whether Redis is reachable as far as the broker knows
// (from its health check, every second, and from failed publishes): false
// before the first successful contact, during an outage and after Close.
// Once an outage is noticed, Publish fails at once with ErrUnavailable
// (which the publish handler turns into 503) until Healthy is true again.
func (r *Redis) Healthy() bool {
	if r.closed.Load() {
		return false
	}
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.state == stateUp
}

// Stats returns a snapshot of the broker's counters.
func (r *Redis) Stats() RedisStats {
	channels, subscribers := r.hub.counts()
	return RedisStats{
		Published:   r.published.Load(),
		Received:    r.hub.fanned.Load(),
		Delivered:   r.hub.delivered.Load(),
		Dropped:     r.hub.dropped.Load(),
		Channels:    channels,
		Subscribers: subscribers,
	}
}

// Close ends every subscription, stops the background goroutines and
// closes the connections. It is idempotent.
func (r *Redis) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.cancel()
		r.wireMu.Lock()
		ps := r.ps
		r.ps, r.wired, r.wireClosed = nil, nil, true
		r.wireMu.Unlock()
		if ps != nil {
			_ = ps.Close()
		}
		r.hub.close()
		r.wg.Wait()
		if cerr := r.client.Close(); cerr != nil {
			err = fmt.Errorf("pubsub: closing redis client for %s: %w", r.addr, cerr)
		}
	})
	return err
}

// ---- connection state ----

// downErr reports whether Redis is known to be down, and why.
func (r *Redis) downErr() (bool, error) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.state == stateDown, r.lastErr
}

// setDown records that an operation started at start found Redis
// unreachable. An observation that started before the last change to up
// is stale and ignored, so a slow failure cannot undo a newer success.
func (r *Redis) setDown(start time.Time, err error) {
	if r.closed.Load() {
		return
	}
	r.stateMu.Lock()
	switch {
	case r.state == stateDown:
		r.lastErr = err
		r.stateMu.Unlock()
		return
	case r.state == stateUp && start.Before(r.changedAt):
		r.stateMu.Unlock()
		return
	}
	r.state, r.lastErr, r.changedAt = stateDown, err, time.Now()
	r.stateMu.Unlock()
	r.log.Warn("pubsub redis unavailable", "addr", r.addr, "error", err)
	r.kickHealth()
}

// setUp records that an operation started at start reached Redis.
func (r *Redis) setUp(start time.Time) {
	if r.closed.Load() {
		return
	}
	r.stateMu.Lock()
	switch {
	case r.state == stateUp:
		r.stateMu.Unlock()
		return
	case r.state == stateDown && start.Before(r.changedAt):
		r.stateMu.Unlock()
		return
	}
	r.state, r.lastErr, r.changedAt = stateUp, nil, time.Now()
	close(r.upCh)
	r.upCh = make(chan struct{})
	r.stateMu.Unlock()
	r.log.Info("pubsub redis connected", "addr", r.addr)
}

// upSignal returns a channel closed at the next change to up.
func (r *Redis) upSignal() <-chan struct{} {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.upCh
}

func (r *Redis) kickHealth() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// healthLoop checks Redis every second, and at once when kicked.
func (r *Redis) healthLoop() {
	defer r.wg.Done()
	tick := time.NewTicker(redisHealthEvery)
	defer tick.Stop()
	suspect := false
	for {
		r.check(suspect)
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
			suspect = false
		case <-r.kick:
			suspect = true
		}
	}
}

// check PINGs Redis and records the outcome. While Redis is not known to
// be up, or when a failure elsewhere made it suspect, it first tries a bare
// connection to the address, so that an outage costs no go-redis dial
// (go-redis logs each failed one on the standard logger).
func (r *Redis) check(suspect bool) {
	start := time.Now()
	r.stateMu.Lock()
	up := r.state == stateUp
	r.stateMu.Unlock()
	if !up || suspect {
		d := net.Dialer{Timeout: r.dialTimeout}
		c, err := d.DialContext(r.ctx, r.network, r.addr)
		if err != nil {
			if r.ctx.Err() == nil {
				r.setDown(start, err)
			}
			return
		}
		_ = c.Close()
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.dialTimeout+r.writeTimeout+r.readTimeout)
	err := r.client.Ping(ctx).Err()
	cancel()
	switch {
	case r.ctx.Err() != nil:
	case err != nil:
		r.setDown(start, err)
	default:
		r.setUp(start)
	}
}

// ---- subscriber connection ----

// readLoop keeps the subscriber connection up and fans out what it
// receives. When the connection fails it makes a new one, after a backoff
// growing from 100 ms to 5 s, or as soon as Redis is seen up again.
func (r *Redis) readLoop() {
	defer r.wg.Done()
	backoff := redisMinBackoff
	for {
		ps, err := r.connect()
		if errors.Is(err, ErrClosed) {
			return
		}
		if err == nil {
			worked := r.receive(ps)
			r.disconnect(ps)
			if r.closed.Load() {
				return
			}
			if worked {
				backoff = redisMinBackoff
			}
			r.log.Debug("pubsub redis subscriber connection lost", "addr", r.addr)
		} else {
			r.log.Debug("pubsub redis subscriber connection failed", "addr", r.addr, "error", err)
		}
		r.kickHealth()
		t := time.NewTimer(backoff)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-r.upSignal():
			t.Stop()
		}
		backoff = min(2*backoff, redisMaxBackoff)
	}
}

// connect opens a subscriber connection and subscribes every channel that
// has local subscribers.
func (r *Redis) connect() (*redis.PubSub, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	ps := r.client.Subscribe(r.ctx)
	// Connect outside wireMu (it may take DialTimeout); the PONG is read
	// by receive.
	ctx, cancel := context.WithTimeout(r.ctx, r.dialTimeout+r.writeTimeout)
	defer cancel()
	if err := ps.Ping(ctx); err != nil {
		_ = ps.Close()
		return nil, err
	}
	r.wireMu.Lock()
	defer r.wireMu.Unlock()
	if r.wireClosed {
		_ = ps.Close()
		return nil, ErrClosed
	}
	channels := r.hub.channels()
	if len(channels) > 0 {
		if err := ps.Subscribe(ctx, channels...); err != nil {
			_ = ps.Close()
			return nil, err
		}
	}
	r.ps = ps
	r.wired = make(map[string]bool, len(channels))
	for _, c := range channels {
		r.wired[c] = true
	}
	return ps, nil
}

// disconnect forgets and closes ps.
func (r *Redis) disconnect(ps *redis.PubSub) {
	r.wireMu.Lock()
	if r.ps == ps {
		r.ps, r.wired = nil, nil
	}
	r.wireMu.Unlock()
	_ = ps.Close()
}

// receive reads ps until it fails or the broker closes, and reports
// whether anything was received. A connection silent for the idle time
// gets a PING; silent for another idle time, it is taken for dead (this
// catches connections that broke without the peer closing them).
func (r *Redis) receive(ps *redis.PubSub) (worked bool) {
	idle := max(redisHealthEvery, r.readTimeout)
	pinged := false
	for {
		v, err := ps.ReceiveTimeout(r.ctx, idle)
		if err != nil {
			if r.closed.Load() {
				return worked
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				ctx, cancel := context.WithTimeout(r.ctx, r.writeTimeout)
				err = ps.Ping(ctx)
				cancel()
				if err == nil {
					pinged = true
					continue
				}
			}
			r.log.Debug("pubsub redis subscriber read failed", "addr", r.addr, "error", err)
			return worked
		}
		worked, pinged = true, false
		if m, ok := v.(*redis.Message); ok {
			_ = r.hub.publish(m.Channel, decodeFrame(m.Channel, m.Payload))
		}
	}
}
