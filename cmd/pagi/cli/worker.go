package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/engine"
)

// A worker is `pagi run FILE` started by a master with these variables and
// descriptors:
//
//	fd 3                  pipe to the master: one message a line
//	fd 4                  pipe from the master: the main config file's
//	                      content the master validated (read to EOF)
//	fd 5…                 the listening sockets, in the order of
//	                      PAGI_WORKER_FDS (socket keys)
//	PAGI_WORKER=k         the worker number (1…workers)
//	PAGI_MASTER_PID       the master; a worker whose parent is not it exits
//	PAGI_WORKER_GEN       the config generation, for logs
//	PAGI_HEARTBEAT        the heartbeat interval (a Go duration)
//	PAGI_WORKER_REUSE     with reuse_port: KEY=ADDRESS of the TCP sockets the
//	                      worker binds itself (SO_REUSEPORT) on the port the
//	                      master reserved
//
// Messages to the master: "ready" once serving, "hb" every heartbeat
// interval, "recycle" once max_requests (plus jitter) requests have
// started, "fail REASON" when startup fails (then the worker exits with
// exitWorkerStartup). The worker keeps serving after "recycle" until the
// master, having started its replacement, sends SIGTERM.
const (
	envWorker      = "PAGI_WORKER"
	envMasterPID   = "PAGI_MASTER_PID"
	envWorkerFDs   = "PAGI_WORKER_FDS"
	envWorkerGen   = "PAGI_WORKER_GEN"
	envHeartbeat   = "PAGI_HEARTBEAT"
	envWorkerReuse = "PAGI_WORKER_REUSE"

	workerPipeFD   = 3
	workerConfigFD = 4
	workerFirstFD  = 5
)

// exitWorkerStartup is a worker's exit code when its config does not build
// or lifespan startup fails: the master does not respawn it in a loop.
const exitWorkerStartup = 3

// isWorker reports whether this process was started as a worker.
func isWorker() bool { return os.Getenv(envWorker) != "" }

// workerPipe writes messages to the master.
type workerPipe struct {
	mu   sync.Mutex
	f    *os.File
	gone chan struct{} // closed when a write fails (the master is gone)
	once sync.Once
}

func (p *workerPipe) send(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.f.Write([]byte(msg + "\n")); err != nil {
		p.once.Do(func() { close(p.gone) })
	}
}

// runWorker serves as worker PAGI_WORKER of the master PAGI_MASTER_PID.
func runWorker(path string, stderr io.Writer) int {
	num, _ := strconv.Atoi(os.Getenv(envWorker))
	masterPID, _ := strconv.Atoi(os.Getenv(envMasterPID))
	gen := os.Getenv(envWorkerGen)
	beat, err := time.ParseDuration(os.Getenv(envHeartbeat))
	if err != nil || beat <= 0 {
		beat = 2 * time.Second
	}
	keys := decodeKeys(os.Getenv(envWorkerFDs))
	reuse := map[string]string{}
	for _, kv := range decodeKeys(os.Getenv(envWorkerReuse)) {
		if k, a, ok := strings.Cut(kv, "="); ok {
			reuse[k] = a
		}
	}
	for _, k := range internalEnv {
		_ = os.Unsetenv(k)
	}
	syscall.CloseOnExec(workerPipeFD) // not for the app's own subprocesses
	pipe := &workerPipe{f: os.NewFile(workerPipeFD, "master-pipe"), gone: make(chan struct{})}
	// Heartbeats run for the whole life of the process, startup and
	// draining included: they prove the process runs, not that it serves.
	go func() {
		for range time.Tick(beat) {
			pipe.send("hb")
		}
	}()
	fail := func(log *slog.Logger, reason string) int {
		if log != nil {
			log.Error("worker failed to start", "reason", reason)
		}
		pipe.send("fail " + oneLine(reason))
		return exitWorkerStartup
	}
	if os.Getppid() != masterPID {
		// The master died before this process could arrange to follow it.
		fmt.Fprintf(stderr, "pagi: worker %d: master %d is gone\n", num, masterPID)
		return exitError
	}
	// The master coordinates: Ctrl-C reaches the whole process group, but
	// only the master's TERM stops a worker. (Caught and dropped rather
	// than ignored: an ignored signal stays ignored in the subprocesses an
	// app starts.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	cf := os.NewFile(workerConfigFD, "config")
	src, err := io.ReadAll(cf)
	_ = cf.Close()
	if err != nil {
		return fail(nil, fmt.Sprintf("reading the config from the master: %v", err))
	}
	res := config.Parse(path, src)
	if res.Diags.HasErrors() {
		_ = res.WriteText(stderr, colorFor(stderr))
		return fail(nil, fmt.Sprintf("the config has %d errors", countErrors(res)))
	}
	cfg := res.Config
	base, err := engine.NewLogger(stderr, cfg.Server.LogLevel, cfg.Server.LogFormat)
	if err != nil {
		return fail(nil, err.Error())
	}
	log := base.With("worker", num, "pid", os.Getpid())

	socks := map[string]net.Listener{}
	for i, key := range keys {
		ln, err := fileListener(workerFirstFD+i, key)
		if err != nil {
			return fail(log, fmt.Sprintf("socket %s from the master: %v", key, err))
		}
		socks[key] = ln
	}
	maxReq := int64(0)
	if m := cfg.Server.MaxRequests; m > 0 {
		maxReq = int64(m)
		if j := cfg.Server.MaxRequestsJitter; j > 0 {
			maxReq += rand.Int64N(int64(j) + 1)
		}
	}
	var serving []*clockedListener // what the engine accepts on
	srv, err := engine.NewWithOptions(cfg, log, engine.Options{
		Inherited: func(lc *config.Listener) net.Listener {
			if addr, ok := reuse[socketKey(lc)]; ok {
				ln, err := reusePortListen(addr)
				if err != nil {
					log.Error("cannot bind a reuse_port socket", "listener", lc.Name, "address", addr, "err", err)
					return nil
				}
				serving = append(serving, &clockedListener{Listener: ln})
				return serving[len(serving)-1]
			}
			ln := socks[socketKey(lc)]
			delete(socks, socketKey(lc))
			if ln == nil {
				return nil
			}
			serving = append(serving, &clockedListener{Listener: ln})
			return serving[len(serving)-1]
		},
		WorkerNum:     num,
		MaxRequests:   maxReq,
		OnMaxRequests: func() { pipe.send("recycle") },
	})
	if err != nil {
		return fail(log, "config does not build: "+err.Error())
	}
	if err := srv.Start(ctx); err != nil {
		return fail(log, err.Error())
	}
	for _, ln := range socks {
		_ = ln.Close() // sockets of listeners this config does not have
	}
	pipe.send("ready")
	log.Debug("worker serving", "generation", gen, "max_requests", maxReq)
	select {
	case <-ctx.Done():
	case <-pipe.gone:
		log.Warn("the master is gone; stopping")
	}
	stopAccepting(serving)
	grace := cfg.Server.GracefulTimeout.D()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not drain everything", "err", err)
	}
	return exitOK
}

// oneLine keeps a message on one line of the pipe protocol.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}

// reusePortListen binds a listening TCP socket with SO_REUSEPORT: the
// kernel spreads new connections over every such socket on the port.
func reusePortListen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setReusePort(fd) }); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

// acceptSettle is how long after its last accepted connection a stopping
// process keeps serving normally, once it stopped accepting, before
// net/http's shutdown begins.
const acceptSettle = 50 * time.Millisecond

// clockedListener is a listening socket that remembers when it last
// accepted a connection.
type clockedListener struct {
	net.Listener
	last atomic.Int64 // unix nanoseconds
}

func (l *clockedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.last.Store(time.Now().UnixNano())
	}
	return c, err
}

// stopAccepting closes this process's copies of the listening sockets
// (other processes keep accepting on the same sockets) and returns once
// the connections accepted last have had time to send their request.
//
// net/http drops a request it reads after Shutdown has begun: it closes
// the connection without an answer, and on a new connection no client
// retries. A client that connected just before this process stopped
// accepting sends its request at once; serving normally for a moment
// after the last accept lets that request in. Under a steady load of
// keep-alive connections the last accept is long past and nothing waits.
func stopAccepting(lns []*clockedListener) {
	var last int64
	for _, ln := range lns {
		if ul, ok := ln.Listener.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false)
		}
		_ = ln.Listener.Close()
		last = max(last, ln.last.Load())
	}
	if wait := time.Until(time.Unix(0, last).Add(acceptSettle)); wait > 0 {
		time.Sleep(wait)
	}
}
