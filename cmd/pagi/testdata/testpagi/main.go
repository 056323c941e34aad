// Command testpagi is pagi with two extra handler types for process tests,
// built the way a user's custom build is: register types, call cli.Main.
//
//	slow { delay = "500ms" }                 answers "slow done" after delay
//	lifespan_fail { message = "..." }        fails lifespan startup with message
//	freeze {}                                stops its own process (SIGSTOP)
//	pid { delay = "0s" }                     answers the serving process's pid
package main

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/cmd/pagi/cli"
	"github.com/pagihq/pagi/config"
)

type slow struct {
	Delay config.Duration `hcl:"delay,optional"`
}

func (s *slow) BuildApp(*config.BuildContext) (pagi.App, error) {
	return func(ctx context.Context, sc *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if sc.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		time.Sleep(s.Delay.D())
		return pagi.Respond(ctx, sc, send, 200, nil, []byte("slow done"))
	}, nil
}

type lifespanFail struct {
	Message string `hcl:"message"`
}

func (l *lifespanFail) BuildApp(*config.BuildContext) (pagi.App, error) {
	return func(ctx context.Context, sc *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if sc.Type != pagi.ScopeLifespan {
			return pagi.Respond(ctx, sc, send, 200, nil, []byte("up"))
		}
		if _, err := receive(ctx); err != nil {
			return err
		}
		return send(ctx, &pagi.LifespanStartupFailed{Message: l.Message})
	}, nil
}

// freeze stops the whole process, like a worker stuck in a way no
// goroutine escapes: only its heartbeat's absence tells.
type freeze struct{}

func (*freeze) BuildApp(*config.BuildContext) (pagi.App, error) {
	return func(ctx context.Context, sc *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if sc.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		// Signal this very thread: a process-wide kill may wake another
		// thread to start the stop, letting this one answer first.
		runtime.LockOSThread()
		_ = syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGSTOP)
		runtime.UnlockOSThread()
		return pagi.Respond(ctx, sc, send, 200, nil, []byte("thawed "+strconv.Itoa(os.Getpid())))
	}, nil
}

// pid answers the pid of the process that serves the request, after
// delay (none by default).
type pid struct {
	Delay config.Duration `hcl:"delay,optional"`
}

func (p *pid) BuildApp(*config.BuildContext) (pagi.App, error) {
	return func(ctx context.Context, sc *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if sc.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		time.Sleep(p.Delay.D())
		return pagi.Respond(ctx, sc, send, 200, nil, []byte(strconv.Itoa(os.Getpid())))
	}, nil
}

func main() {
	config.Register(config.BlockType{Name: "slow", Kind: config.KindHandler, New: func() any { return &slow{Delay: config.Duration(500 * time.Millisecond)} }})
	config.Register(config.BlockType{Name: "lifespan_fail", Kind: config.KindHandler, New: func() any { return &lifespanFail{} }})
	config.Register(config.BlockType{Name: "freeze", Kind: config.KindHandler, New: func() any { return &freeze{} }})
	config.Register(config.BlockType{Name: "pid", Kind: config.KindHandler, New: func() any { return &pid{} }})
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
