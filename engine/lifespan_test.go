package engine

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/pagihq/pagi"
)

// An app that answers lifespan startup and returns at once makes its answer
// and its return ready together; the answer must win every time, or a failed
// startup would be taken for an app that does not take part.
func TestLifespanAnswerBeforeReturnWins(t *testing.T) {
	failing := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if _, err := receive(ctx); err != nil {
			return err
		}
		return send(ctx, &pagi.LifespanStartupFailed{Message: "no database"})
	}
	completing := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if _, err := receive(ctx); err != nil {
			return err
		}
		return send(ctx, &pagi.LifespanStartupComplete{})
	}
	for i := range 2000 {
		l := &lifespan{log: slog.New(slog.DiscardHandler), mode: "auto", timeout: time.Minute}
		if _, err := l.startup(context.Background(), []pagi.App{failing}, 0); !errors.Is(err, errLifespanFailed) {
			t.Fatalf("run %d: a failed startup gave %v", i, err)
		}
		l = &lifespan{log: slog.New(slog.DiscardHandler), mode: "on", timeout: time.Minute}
		if _, err := l.startup(context.Background(), []pagi.App{completing}, 0); err != nil {
			t.Fatalf("run %d: a completed startup gave %v", i, err)
		}
		// The app has returned; shutdown must not wait for an answer.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		l.shutdown(ctx)
		cancel()
		if time.Since(start) > 4*time.Second {
			t.Fatalf("run %d: shutdown of a returned app waited for its timeout", i)
		}
	}
}

// When a later app fails startup, the apps that had completed it get their
// shutdown before the error is returned.
func TestLifespanFailedStartupShutsDownStartedApps(t *testing.T) {
	shut := make(chan struct{}, 1)
	started := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		return lifespanLoop(ctx, s, receive, send, func() {}, shut)
	}
	failing := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if _, err := receive(ctx); err != nil {
			return err
		}
		return send(ctx, &pagi.LifespanStartupFailed{Message: "no database"})
	}
	l := &lifespan{log: slog.New(slog.DiscardHandler), mode: "auto", timeout: 5 * time.Second}
	if _, err := l.startup(context.Background(), []pagi.App{started, failing}, 0); !errors.Is(err, errLifespanFailed) {
		t.Fatalf("startup gave %v", err)
	}
	select {
	case <-shut:
	default:
		t.Fatal("the app that had started got no lifespan.shutdown")
	}
}

// lifespanLoop is a lifespan app's body: it runs onStartup and completes
// startup, then at shutdown signals shut and completes that.
func lifespanLoop(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send, onStartup func(), shut chan<- struct{}) error {
	for {
		ev, err := receive(ctx)
		if err != nil {
			return err
		}
		switch ev.(type) {
		case *pagi.LifespanStartup:
			onStartup()
			_ = send(ctx, &pagi.LifespanStartupComplete{})
		case *pagi.LifespanShutdown:
			shut <- struct{}{}
			return send(ctx, &pagi.LifespanShutdownComplete{})
		}
	}
}
