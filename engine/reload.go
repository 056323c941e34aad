package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
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
// Only what was written counts: moving a block or adding a comment is not a
// change.
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
	a, r = setDiff(listenerKeys(cur.Config), listenerKeys(old.Config))
	add("listeners", a, r)
	// Middleware of the routes present in both configs.
	oldMW, newMW := middlewareKeys(old.Config), middlewareKeys(cur.Config)
	for route, mw := range newMW {
		if prev, ok := oldMW[route]; ok && prev != mw {
			out = append(out, "middleware")
			break
		}
	}
	for _, name := range plan.certSwaps {
		out = append(out, "tls "+name)
	}
	if cur.broker != old.broker {
		out = append(out, "pubsub")
	}
	os, ns := old.Config.Server, cur.Config.Server
	os.DefRange, ns.DefRange = hcl.Range{}, hcl.Range{}
	if os != ns {
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
		key := fmt.Sprintf("%s %s h2=%v mode=%v %+v", l.Name, l.Address, l.HTTP2, l.Mode, l.Limits)
		if l.TLS != nil {
			key += fmt.Sprintf(" tls=%s,%s,%d,%s", l.TLS.Cert, l.TLS.Key, l.TLS.MinVersion, l.TLS.ClientCA)
		}
		if l.ProxyProtocol != nil {
			key += fmt.Sprintf(" proxy=%v", l.ProxyProtocol.Trusted)
		}
		out = append(out, key)
	}
	return out
}

// middlewareKeys maps each route (site and pattern) to the source of the
// middleware around it.
func middlewareKeys(c *config.Config) map[string]string {
	out := map[string]string{}
	uses := func(b *strings.Builder, us []*config.Use) {
		for _, u := range us {
			fmt.Fprintf(b, "%s(%s)%s;", u.Type, u.Chain, u.Source)
		}
	}
	for _, s := range c.Sites {
		for _, r := range s.Routes {
			var b strings.Builder
			uses(&b, s.Middleware)
			uses(&b, r.Middleware)
			out[s.Name+" "+r.Pattern] = b.String()
		}
	}
	return out
}

// setDiff returns the elements of a not in b and of b not in a.
func setDiff(a, b []string) (onlyA, onlyB []string) {
	inA := make(map[string]bool, len(a))
	for _, x := range a {
		inA[x] = true
	}
	inB := make(map[string]bool, len(b))
	for _, x := range b {
		inB[x] = true
		if !inA[x] {
			onlyB = append(onlyB, x)
		}
	}
	for _, x := range a {
		if !inB[x] {
			onlyA = append(onlyA, x)
		}
	}
	return onlyA, onlyB
}
