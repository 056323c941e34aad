package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pagihq/pagi/config"
)

// ReloadReport says what a reload changed.
type ReloadReport struct {
	// Generation is the number of the config now serving (the first is 1).
	Generation int
	// Took is how long compiling and swapping took.
	Took time.Duration
	// Changes lists what changed, in words ("routes +2 -1", "tls web", ...);
	// empty when the new config serves the same things.
	Changes []string
}

// Generation returns the number of the config now serving (1 at start).
func (s *Server) Generation() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// Reload compiles cfg beside the running pipeline and swaps it in:
// listeners that are new are bound first (a bind failure aborts the whole
// reload and leaves nothing half open), then the pipeline pointer is
// swapped, listeners whose settings changed get a new http.Server on the
// same socket, and removed listeners close. Requests in flight, WebSocket
// sessions and SSE streams finish on the pipeline they started on; its
// resources are released when its last request ends, or after
// graceful_timeout. On error nothing changes.
func (s *Server) Reload(ctx context.Context, cfg *config.Config) (*ReloadReport, error) {
	start := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		return nil, errors.New("the server is shutting down")
	}
	old := s.pipeline.Load()
	p, err := s.compile(cfg, old)
	if err != nil {
		return nil, err
	}
	state, err := p.life.startup(ctx, p.apps, s.opts.WorkerNum)
	if err != nil {
		s.discard(p, old)
		return nil, err
	}
	p.state.m = state.m
	plan, err := s.plan(p)
	if err != nil {
		p.life.shutdown(context.WithoutCancel(ctx))
		s.discard(p, old)
		return nil, err
	}
	s.pipeline.Store(p)
	plan.commit(s)
	s.gen++
	report := &ReloadReport{Generation: s.gen, Took: time.Since(start), Changes: describeChanges(old, p, plan)}
	s.retirePipeline(old, p.broker != old.broker, cfg.Server.GracefulTimeout.D())
	return report, nil
}

// discard releases a pipeline that never served.
func (s *Server) discard(p, old *Pipeline) {
	_ = p.Cleanup()
	if p.broker != nil && p.broker != old.broker {
		_ = p.broker.Close()
	}
}

// retirePipeline waits in the background for the last request of an old
// pipeline (or grace), then runs its lifespan shutdown and releases its
// resources.
func (s *Server) retirePipeline(old *Pipeline, closeBroker bool, grace time.Duration) {
	s.retiring.Add(1)
	go func() {
		defer s.retiring.Done()
		deadline := time.Now().Add(grace)
		for old.inflight.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := old.inflight.Load(); n > 0 {
			s.log.Warn("releasing an old config with requests still running", "requests", n, "graceful_timeout", grace.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		old.life.shutdown(ctx)
		if err := old.Cleanup(); err != nil {
			s.log.Warn("releasing an old config", "err", err)
		}
		if closeBroker && old.broker != nil {
			_ = old.broker.Close()
		}
	}()
}

// describeChanges compares two pipelines' configs for the reload log line.
func describeChanges(old, cur *Pipeline, plan *bindPlan) []string {
	var out []string
	add := func(what string, added, removed []string) {
		if len(added)+len(removed) > 0 {
			out = append(out, fmt.Sprintf("%s +%d -%d", what, len(added), len(removed)))
		}
	}
	oldRoutes, newRoutes := routeKeys(old.Config), routeKeys(cur.Config)
	a, r := setDiff(newRoutes, oldRoutes)
	add("routes", a, r) // a route whose handler block changed counts as removed and added
	oldL, newL := listenerKeys(old.Config), listenerKeys(cur.Config)
	a, r = setDiff(newL, oldL)
	add("listeners", a, r)
	if a, r := setDiff(middlewareKeys(cur.Config), middlewareKeys(old.Config)); len(a)+len(r) > 0 {
		out = append(out, "middleware")
	}
	for _, name := range plan.certSwaps {
		out = append(out, "tls "+name)
	}
	if cur.broker != old.broker {
		out = append(out, "pubsub")
	}
	if old.Config.Server != cur.Config.Server {
		out = append(out, "server")
	}
	return out
}

func routeKeys(c *config.Config) []string {
	var out []string
	for _, s := range c.Sites {
		for _, r := range s.Routes {
			out = append(out, s.Name+" "+r.Pattern+" "+r.Handler.Source)
		}
	}
	return out
}

func listenerKeys(c *config.Config) []string {
	var out []string
	for _, l := range c.Listeners {
		key := fmt.Sprintf("%s %s tls=%v h2=%v %+v", l.Name, l.Address, l.TLS != nil, l.HTTP2, l.Limits)
		if l.TLS != nil {
			key += fmt.Sprintf(" %+v", *l.TLS)
		}
		out = append(out, key)
	}
	return out
}

func middlewareKeys(c *config.Config) []string {
	var out []string
	uses := func(us []*config.Use) string {
		var b strings.Builder
		for _, u := range us {
			fmt.Fprintf(&b, "%s(%s)%s;", u.Type, u.Chain, u.Source)
		}
		return b.String()
	}
	for _, s := range c.Sites {
		for _, r := range s.Routes {
			out = append(out, s.Name+" "+r.Pattern+" "+uses(s.Middleware)+uses(r.Middleware))
		}
	}
	return out
}

// setDiff returns the elements of a not in b and of b not in a.
func setDiff(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}
