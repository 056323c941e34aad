package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/pagihq/pagi"
)

// lifespanState is the state the apps filled during lifespan startup. It is
// read-only once serving starts; each request scope gets a shallow copy.
type lifespanState struct {
	m map[string]any
}

func (s *lifespanState) copy() map[string]any {
	if s == nil || len(s.m) == 0 {
		return nil
	}
	return maps.Clone(s.m)
}

// lifespanRun is one app's lifespan conversation.
type lifespanRun struct {
	events   chan pagi.Event // server → app: startup, then shutdown
	replies  chan pagi.Event // app → server
	returned chan error      // the app's return value
}

// lifespan runs the lifespan protocol against a set of apps: every app gets
// one lifespan scope; an app that returns (or fails) before answering
// startup has declined and is left alone.
type lifespan struct {
	log     *slog.Logger
	mode    string // auto | on | off
	timeout time.Duration
	runs    []*lifespanRun
	state   *lifespanState
}

// errLifespanFailed wraps the message of a lifespan.startup.failed.
var errLifespanFailed = errors.New("lifespan startup failed")

// startup runs lifespan startup on each app in order and returns the
// shared state. In mode "on" at least one app must take part.
func (l *lifespan) startup(ctx context.Context, apps []pagi.App, workerNum int) (*lifespanState, error) {
	l.state = &lifespanState{m: map[string]any{}}
	if l.mode == "off" {
		return l.state, nil
	}
	for _, app := range apps {
		run := &lifespanRun{events: make(chan pagi.Event, 1), replies: make(chan pagi.Event, 1), returned: make(chan error, 1)}
		scope := &pagi.Scope{Type: pagi.ScopeLifespan, State: l.state.m, IsWorker: workerNum > 0, WorkerNum: workerNum}
		go func() {
			defer func() {
				if v := recover(); v != nil {
					run.returned <- fmt.Errorf("panic: %v", v)
				}
			}()
			run.returned <- app(context.WithoutCancel(ctx), scope, run.receive, run.send)
		}()
		run.events <- &pagi.LifespanStartup{}
		var timeout <-chan time.Time
		if l.timeout > 0 {
			t := time.NewTimer(l.timeout)
			defer t.Stop()
			timeout = t.C
		}
		var ev pagi.Event
		select {
		case ev = <-run.replies:
		case err := <-run.returned:
			ev = run.answerBeforeReturn(err)
			if ev == nil {
				l.log.Debug("app does not take part in lifespan", "reason", errOrNil(err))
				continue
			}
		case <-timeout:
			return nil, l.abort(ctx, fmt.Errorf("%w: no answer within %s", errLifespanFailed, l.timeout))
		case <-ctx.Done():
			return nil, l.abort(ctx, ctx.Err())
		}
		if f, ok := ev.(*pagi.LifespanStartupFailed); ok {
			return nil, l.abort(ctx, fmt.Errorf("%w: %s", errLifespanFailed, f.Message))
		}
		l.runs = append(l.runs, run)
	}
	if l.mode == "on" && len(l.runs) == 0 {
		return nil, fmt.Errorf("%w: lifespan = \"on\" but no app supports lifespan", errLifespanFailed)
	}
	return l.state, nil
}

// abort ends a startup that failed (with err, which it returns): the apps
// that had already completed startup get their shutdown, each bounded by
// the startup timeout (30 s when none is set).
func (l *lifespan) abort(ctx context.Context, err error) error {
	if len(l.runs) > 0 {
		l.shutdownWithin(ctx)
		l.runs = nil
	}
	return err
}

// shutdownWithin is shutdown bounded by the startup timeout (30 s when
// none is set), for the paths where nothing else bounds it.
func (l *lifespan) shutdownWithin(ctx context.Context) {
	d := l.timeout
	if d <= 0 {
		d = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	l.shutdown(sctx)
}

// shutdown sends lifespan.shutdown to every app that completed startup, in
// reverse order, waiting for each until ctx ends.
func (l *lifespan) shutdown(ctx context.Context) {
	for i := len(l.runs) - 1; i >= 0; i-- {
		run := l.runs[i]
		run.events <- &pagi.LifespanShutdown{}
		select {
		case ev := <-run.replies:
			if f, ok := ev.(*pagi.LifespanShutdownFailed); ok {
				l.log.Error("lifespan shutdown failed", "message", f.Message)
			}
		case err := <-run.returned:
			if f, ok := run.answerBeforeReturn(err).(*pagi.LifespanShutdownFailed); ok {
				l.log.Error("lifespan shutdown failed", "message", f.Message)
			} else if err != nil {
				l.log.Error("lifespan app failed during shutdown", "err", err)
			}
		case <-ctx.Done():
			l.log.Warn("lifespan shutdown timed out")
			return
		}
	}
}

// answerBeforeReturn is called when the app has returned with err: an
// answer it sent just before returning may be waiting too, and a select
// over both picks at random, so the answer is looked for first. When there
// is one, err is put back for a later wait on returned (shutdown's) to see.
func (r *lifespanRun) answerBeforeReturn(err error) pagi.Event {
	select {
	case ev := <-r.replies:
		r.returned <- err
		return ev
	default:
		return nil
	}
}

func (r *lifespanRun) receive(ctx context.Context) (pagi.Event, error) {
	select {
	case ev := <-r.events:
		return ev, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *lifespanRun) send(ctx context.Context, ev pagi.Event) error {
	switch ev.(type) {
	case *pagi.LifespanStartupComplete, *pagi.LifespanStartupFailed,
		*pagi.LifespanShutdownComplete, *pagi.LifespanShutdownFailed:
	default:
		return fmt.Errorf("%w: %s on a lifespan scope", pagi.ErrUnexpectedEvent, ev.Type())
	}
	select {
	case r.replies <- ev:
		return nil
	default:
		return fmt.Errorf("%w: %s sent twice", pagi.ErrUnexpectedEvent, ev.Type())
	}
}

func errOrNil(err error) string {
	if err == nil {
		return "returned without answering startup"
	}
	return err.Error()
}
