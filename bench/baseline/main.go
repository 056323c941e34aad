// Command baseline is the raw net/http server pagi is measured against: the
// same jobs as the benchmark configs (a hello-world response, static files
// and a WebSocket echo), written directly against the standard library and
// gorilla/websocket, with nothing of pagi's. bench/run.sh and bench/live.sh
// start it beside pagi and load both in one run.
//
// The SSE fan-out (-sse, off unless given) is the smallest net/http
// broadcaster that does the job of pagi's `sse` + `publish` routes on the
// memory backend: GET /events streams, POST /publish/news sends the body as
// one `data:` event to every stream through a bounded queue per stream
// (256, full queues drop), each event written and flushed on its own.
//
// The WebSocket echo (-ws, off unless given) is a plain gorilla/websocket
// loop like gorilla's autobahn example server: read a message, close with
// 1007 when a text message is not valid UTF-8, write it back. Like pagi's
// `websocket { echo = true }` it accepts any origin, does not negotiate
// compression and limits messages to 1 MiB. An empty address turns any of
// the servers off.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

func main() {
	hello := flag.String("hello", "127.0.0.1:18180", "address of the hello-world server")
	static := flag.String("static", "127.0.0.1:18181", "address of the http.FileServer server")
	root := flag.String("root", ".", "directory served by http.FileServer")
	ws := flag.String("ws", "", "address of the WebSocket echo server (off when empty)")
	sse := flag.String("sse", "", "address of the SSE fan-out server (off when empty)")
	flag.Parse()
	body := []byte("Hello, World!")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	// /bare and /fields are the floor of the middleware-chain benchmark
	// (bench/chain.sh): the small JSON response of bench/chain-site.hcl, and
	// the same response with the four fields the chain adds to it, so the
	// difference is what net/http itself charges for writing them.
	json := []byte(`{"hello":"world"}`)
	mux.HandleFunc("/bare", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(json)
	})
	mux.HandleFunc("/fields", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		h.Set("Vary", "Origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Request-Id", "7db8cd001e96be8ea342f7af3cf2e099")
		_, _ = w.Write(json)
	})
	servers := []struct {
		addr string
		h    http.Handler
	}{{*hello, mux}, {*static, http.FileServer(http.Dir(*root))}, {*ws, http.HandlerFunc(echo)}, {*sse, newFanout()}}
	errc := make(chan error)
	running := 0
	for _, s := range servers {
		if s.addr != "" {
			running++
			go func() { errc <- http.ListenAndServe(s.addr, s.h) }()
		}
	}
	if running == 0 {
		log.Fatal("no server to run")
	}
	log.Fatal(<-errc)
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// echo sends every message of a WebSocket session back to its sender.
func echo(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	defer conn.Close()
	conn.SetReadLimit(1 << 20)
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if typ == websocket.TextMessage && !utf8.Valid(data) {
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, ""), time.Now().Add(time.Second))
			return
		}
		if err := conn.WriteMessage(typ, data); err != nil {
			return
		}
	}
}

// fanout is the SSE broadcaster.
type fanout struct {
	mux  *http.ServeMux
	mu   sync.Mutex
	subs map[chan []byte]struct{}
}

func newFanout() *fanout {
	f := &fanout{mux: http.NewServeMux(), subs: map[chan []byte]struct{}{}}
	f.mux.HandleFunc("GET /events", f.stream)
	f.mux.HandleFunc("POST /publish/news", f.publish)
	return f
}

func (f *fanout) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

func (f *fanout) stream(w http.ResponseWriter, r *http.Request) {
	ch := make(chan []byte, 256)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	fl.Flush()
	for {
		select {
		case b := <-ch:
			if _, err := w.Write(b); err != nil {
				return
			}
			fl.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fanout) publish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	event := append(append([]byte("data: "), bytes.ReplaceAll(body, []byte("\n"), []byte("\ndata: "))...), "\n\n"...)
	f.mu.Lock()
	for ch := range f.subs {
		select {
		case ch <- event:
		default: // a full queue misses the event
		}
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}
