// Command sse is a Server-Sent Events fan-out client for bench/live.sh.
//
// It opens -subs streams to -url (HTTP/1.1 GETs with Accept:
// text/event-stream, one connection each), waits until every stream has
// delivered its response headers (the sse handler subscribes before it
// answers), lets them settle, then POSTs -events messages to -publish,
// -interval apart, each one's body the publish time in Unix nanoseconds. Every
// subscriber records, per event, the time from publish to delivery. It
// prints one JSON line: p50/p99/max delivery latency and delivered/expected
// event counts (expected: connected streams × accepted publishes), and for
// the publish phase its wall time and the CPU time of the client and, with
// -server-pid, of the server.
//
//	sse -url http://127.0.0.1:18392/events -subs 10000 \
//	    -publish http://127.0.0.1:18392/publish/news -events 20
//
// With -sources K the streams are spread over the local source addresses
// 127.0.0.1 … 127.0.0.K.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type result struct {
	URL            string  `json:"url"`
	Subs           int     `json:"subs"`
	Connected      int64   `json:"connected"`
	ConnectSeconds float64 `json:"connect_seconds"`
	Published      int     `json:"published"`
	Delivered      int64   `json:"delivered"`
	Expected       int64   `json:"expected"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	Errors         int64   `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
	// The publish phase: from the first publish to the last delivery, and
	// the CPU time the client and the server (-server-pid) used meanwhile.
	PublishSeconds   float64 `json:"publish_seconds"`
	PublishClientCPU float64 `json:"publish_client_cpu_s"`
	PublishServerCPU float64 `json:"publish_server_cpu_s,omitempty"`
}

func main() {
	url := flag.String("url", "http://127.0.0.1:18392/events", "SSE stream URL")
	subs := flag.Int("subs", 10000, "number of subscribers (streams)")
	publish := flag.String("publish", "http://127.0.0.1:18392/publish/news", "publish endpoint (POST)")
	events := flag.Int("events", 20, "messages to publish")
	interval := flag.Duration("interval", 200*time.Millisecond, "time between publishes")
	settle := flag.Duration("settle", time.Second, "wait after all streams are open, before publishing")
	connectTimeout := flag.Duration("connect-timeout", 90*time.Second, "give up waiting for streams after this")
	drain := flag.Duration("drain", 5*time.Second, "after the last publish, stop waiting for deliveries when none came for this long")
	maxDrain := flag.Duration("max-drain", 60*time.Second, "after the last publish, wait at most this for deliveries")
	serverPID := flag.Int("server-pid", 0, "server process (on this machine) whose CPU time to report for the publish phase")
	sources := flag.Int("sources", 1, "spread streams over local addresses 127.0.0.1..127.0.0.N")
	dialers := flag.Int("dialers", 200, "streams being opened at once")
	flag.Parse()
	if *subs < 1 || *events < 1 || *sources < 1 || *sources > 254 {
		fmt.Fprintln(os.Stderr, "sse: -subs and -events must be positive, -sources 1..254")
		os.Exit(2)
	}

	var next atomic.Uint32
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: 30 * time.Second}
			if *sources > 1 {
				i := int(next.Add(1)) % *sources
				d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i))}
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxConnsPerHost:     0,
		MaxIdleConns:        *subs + 100,
		MaxIdleConnsPerHost: *subs + 100,
		DisableCompression:  true,
		Protocols:           new(http.Protocols),
	}
	tr.Protocols.SetHTTP1(true)
	client := &http.Client{Transport: tr}

	var failures errs
	var connected, delivered atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lat := make([][]time.Duration, *subs)
	var opened sync.WaitGroup // one per subscriber: headers arrived or failed
	opened.Add(*subs)
	var streams sync.WaitGroup
	start := time.Now()
	sem := make(chan struct{}, max(1, *dialers))
	for i := range *subs {
		streams.Go(func() {
			sem <- struct{}{}
			req, _ := http.NewRequestWithContext(ctx, "GET", *url, nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := client.Do(req)
			<-sem
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("GET %s: %s", *url, resp.Status)
				resp.Body.Close()
			}
			if err != nil {
				failures.add(err)
				opened.Done()
				return
			}
			defer resp.Body.Close()
			connected.Add(1)
			opened.Done()
			lat[i] = read(ctx, resp.Body, *events, &delivered, &failures)
		})
	}
	allOpen := make(chan struct{})
	go func() { opened.Wait(); close(allOpen) }()
	select {
	case <-allOpen:
	case <-time.After(*connectTimeout):
		failures.add(errors.New("timed out waiting for the streams to open"))
	}
	connectSeconds := time.Since(start).Seconds()
	time.Sleep(*settle)

	server0, client0, pubStart := procCPUSeconds(*serverPID), cpuSeconds(), time.Now()
	published := 0
	tick := time.NewTicker(*interval)
	for n := range *events {
		if n > 0 {
			<-tick.C
		}
		body := strconv.FormatInt(time.Now().UnixNano(), 10)
		resp, err := http.Post(*publish, "text/plain", strings.NewReader(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				err = fmt.Errorf("POST %s: %s", *publish, resp.Status)
			}
		}
		if err != nil {
			failures.add(err)
			continue
		}
		published++
	}
	tick.Stop()
	expected := connected.Load() * int64(published)
	last, lastChange, hardStop := delivered.Load(), time.Now(), time.Now().Add(*maxDrain)
	for last < expected && time.Since(lastChange) < *drain && time.Now().Before(hardStop) {
		time.Sleep(20 * time.Millisecond)
		if n := delivered.Load(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	got := delivered.Load()
	pubSeconds := time.Since(pubStart).Seconds()
	if last == expected {
		pubSeconds = lastChange.Sub(pubStart).Seconds()
	}
	serverCPU, clientCPU := procCPUSeconds(*serverPID)-server0, cpuSeconds()-client0
	cancel()
	streams.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	out, _ := json.Marshal(result{URL: *url, Subs: *subs, Connected: connected.Load(), ConnectSeconds: round(connectSeconds),
		Published: published, Delivered: got, Expected: expected,
		P50ms: ms(pct(all, 0.50)), P99ms: ms(pct(all, 0.99)), MaxMs: ms(pct(all, 1)),
		Errors: failures.n.Load(), FirstError: failures.first,
		PublishSeconds: round(pubSeconds), PublishClientCPU: round(clientCPU), PublishServerCPU: round(serverCPU)})
	fmt.Println(string(out))
}

// read parses an event stream until it ends and returns the latency of
// each event whose data is a Unix-nanosecond timestamp.
func read(ctx context.Context, body io.Reader, events int, delivered *atomic.Int64, failures *errs) []time.Duration {
	lat := make([]time.Duration, 0, events)
	br := bufio.NewReaderSize(body, 1024)
	var data []byte
	inEvent := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				failures.add(fmt.Errorf("stream ended: %w", err))
			}
			return lat
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0: // end of an event
			if inEvent {
				now := time.Now()
				ns, err := strconv.ParseInt(string(data), 10, 64)
				if err != nil {
					failures.add(fmt.Errorf("event data %q is not a timestamp", data))
				} else {
					lat = append(lat, now.Sub(time.Unix(0, ns)))
					delivered.Add(1)
				}
				data, inEvent = data[:0], false
			}
		case line[0] == ':': // comment (keepalive)
		case bytes.HasPrefix(line, []byte("data:")):
			v := bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))
			if inEvent {
				data = append(data, '\n')
			}
			data, inEvent = append(data, v...), true
		}
	}
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

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return round(float64(d) / 1e6) }

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// procCPUSeconds is the user and system CPU time of process pid, from
// /proc/PID/stat (Linux, 100 clock ticks per second); 0 when pid is 0 or
// the file cannot be read.
func procCPUSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: state is
	// the first, utime the 12th and stime the 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}
