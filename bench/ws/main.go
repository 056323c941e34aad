// Command ws is a WebSocket load client for bench/live.sh.
//
// Echo mode (the default) opens -conns connections to -url and, on each,
// does echo round trips as fast as it can for -duration: send a text message
// of -size bytes, wait for the echo, check it is the same text. It prints one
// JSON line: round trips, round trips per second, p50/p99/max round-trip
// latency and errors.
//
//	ws -url ws://127.0.0.1:18390/echo -conns 50 -duration 10s -size 64
//
// Idle mode (-idle N) opens N connections that send nothing, prints one JSON
// line when all of them are open (or have failed), holds them for -hold and
// closes them, so a script can read the server's memory meanwhile.
//
//	ws -url ws://127.0.0.1:18391/idle -idle 10000 -hold 60s
//
// With -sources K the connections are spread over the local source
// addresses 127.0.0.1 … 127.0.0.K, for more than the ~28k ephemeral ports
// one source address has towards one server port.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:18390/echo", "WebSocket URL")
	conns := flag.Int("conns", 50, "echo mode: concurrent connections")
	duration := flag.Duration("duration", 10*time.Second, "echo mode: how long to run")
	size := flag.Int("size", 64, "echo mode: message size in bytes")
	idle := flag.Int("idle", 0, "idle mode: open this many idle connections")
	hold := flag.Duration("hold", 10*time.Second, "idle mode: how long to hold them once open")
	sources := flag.Int("sources", 1, "spread connections over local addresses 127.0.0.1..127.0.0.N")
	dialers := flag.Int("dialers", 200, "idle mode: connections being opened at once")
	flag.Parse()
	if *sources < 1 || *sources > 254 {
		fatal("-sources must be 1..254")
	}
	d := newDialer(*sources)
	if *idle > 0 {
		runIdle(d, *url, *idle, *dialers, *hold)
		return
	}
	if *conns < 1 || *size < 1 {
		fatal("-conns and -size must be positive")
	}
	runEcho(d, *url, *conns, *duration, *size)
}

// newDialer returns a dialer that binds successive connections to
// 127.0.0.1 … 127.0.0.n in turn.
func newDialer(n int) *websocket.Dialer {
	var next atomic.Uint32
	return &websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{Timeout: 30 * time.Second}
			if n > 1 {
				i := int(next.Add(1)) % n
				nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i))}
			}
			return nd.DialContext(ctx, network, addr)
		},
	}
}

// echoResult is the JSON line of echo mode.
type echoResult struct {
	Mode        string  `json:"mode"`
	URL         string  `json:"url"`
	Conns       int     `json:"conns"`
	Size        int     `json:"size"`
	Seconds     float64 `json:"seconds"`
	RoundTrips  int     `json:"round_trips"`
	RoundTripsS float64 `json:"round_trips_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	ClientCPU   float64 `json:"client_cpu_s"`
}

// errs counts errors and keeps the first one for the report.
type errs struct {
	n     atomic.Int64
	once  sync.Once
	first string
}

func (e *errs) add(err error) {
	e.n.Add(1)
	e.once.Do(func() { e.first = err.Error() })
}

func runEcho(d *websocket.Dialer, url string, conns int, duration time.Duration, size int) {
	var failures errs
	// Connect everything first, so the clock measures round trips only.
	cs := make([]*websocket.Conn, conns)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() {
			c, _, err := d.Dial(url, nil)
			if err != nil {
				failures.add(err)
				return
			}
			cs[i] = c
		})
	}
	wg.Wait()
	lat := make([][]time.Duration, conns)
	start := time.Now()
	deadline := start.Add(duration)
	for i := range cs {
		wg.Go(func() {
			lat[i] = echoLoop(d, url, cs[i], i, size, deadline, &failures)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	emit(echoResult{Mode: "echo", URL: url, Conns: conns, Size: size, Seconds: round(elapsed.Seconds()),
		RoundTrips: len(all), RoundTripsS: round(float64(len(all)) / elapsed.Seconds()),
		P50ms: ms(pct(all, 0.50)), P99ms: ms(pct(all, 0.99)), MaxMs: ms(pct(all, 1)),
		Errors: failures.n.Load(), FirstError: failures.first, ClientCPU: cpuSeconds()})
}

// echoLoop does round trips on c until deadline and returns their
// latencies. After an error it reconnects (counting failures) and goes on.
func echoLoop(d *websocket.Dialer, url string, c *websocket.Conn, id, size int, deadline time.Time, failures *errs) []time.Duration {
	lat := make([]time.Duration, 0, 1<<14)
	msg := make([]byte, size)
	var stamp []byte
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := range msg {
		msg[i] = letters[rand.IntN(len(letters))]
	}
	defer func() {
		if c != nil {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			_ = c.Close()
		}
	}()
	for n := 0; time.Now().Before(deadline); n++ {
		if c == nil {
			var err error
			if c, _, err = d.Dial(url, nil); err != nil {
				failures.add(err)
				c = nil
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		// Stamp the message with a sequence number, so a stale or
		// misrouted echo is caught.
		stamp = strconv.AppendInt(append(strconv.AppendInt(stamp[:0], int64(id), 10), ':'), int64(n), 36)
		copy(msg, stamp)
		_ = c.SetReadDeadline(deadline.Add(5 * time.Second))
		t0 := time.Now()
		err := c.WriteMessage(websocket.TextMessage, msg)
		var typ int
		var got []byte
		if err == nil {
			typ, got, err = c.ReadMessage()
		}
		if err == nil && (typ != websocket.TextMessage || !bytes.Equal(got, msg)) {
			err = errors.New("echo differs from the message sent")
		}
		if err != nil {
			failures.add(err)
			_ = c.Close()
			c = nil
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	return lat
}

// idleResult is the JSON line of idle mode, printed when every connection
// is open or has failed.
type idleResult struct {
	Mode        string  `json:"mode"`
	URL         string  `json:"url"`
	Open        int64   `json:"open"`
	Failed      int64   `json:"failed"`
	OpenSeconds float64 `json:"open_seconds"`
	FirstError  string  `json:"first_error,omitempty"`
}

func runIdle(d *websocket.Dialer, url string, n, dialers int, hold time.Duration) {
	var failures errs
	var open atomic.Int64
	cs := make([]*websocket.Conn, n)
	start := time.Now()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range max(1, min(dialers, n)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, _, err := d.Dial(url, nil)
				if err != nil {
					failures.add(err)
					continue
				}
				cs[i] = c
				open.Add(1)
			}
		})
	}
	wg.Wait()
	emit(idleResult{Mode: "idle", URL: url, Open: open.Load(), Failed: failures.n.Load(),
		OpenSeconds: round(time.Since(start).Seconds()), FirstError: failures.first})
	time.Sleep(hold)
	for _, c := range cs {
		if c != nil {
			_ = c.Close()
		}
	}
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return round(float64(d) / 1e6) }

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fatal(err.Error())
	}
	fmt.Println(string(b))
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "ws:", msg)
	os.Exit(2)
}

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return round(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds())
}
