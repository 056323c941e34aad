package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/pubsub"
)

// Pipeline is a compiled config: per listener, a ServeMux whose routes hold
// their finished app (middleware applied) and everything the per-request
// path needs. A Pipeline is immutable once compiled; the Server swaps whole
// pipelines atomically.
type Pipeline struct {
	// Config is the config the pipeline was compiled from.
	Config *config.Config

	muxes    map[string]*http.ServeMux // by listener name
	fast     map[string]*fastRouter    // by listener name: the common routes without the mux
	infos    map[string]*listenerInfo
	apps     []pagi.App // one per route, for lifespan
	cleaners []config.Cleaner
	state    *lifespanState
	inflight atomic.Int64
	broker   pubsub.Broker
	life     *lifespan
}

// CompileOptions carry what compiling needs besides the config.
type CompileOptions struct {
	// Logger receives build-time and request-time logs.
	Logger *slog.Logger
	// Services are shared resources offered to modules (see
	// config.BuildContext.Services).
	Services map[string]any
	// shutting is the owning server's shutdown flag.
	shutting *atomic.Bool
}

// Compile builds a Pipeline from a validated config. Errors name the site
// and route whose module failed to build.
func Compile(cfg *config.Config, opts CompileOptions) (*Pipeline, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Pipeline{
		Config: cfg,
		muxes:  map[string]*http.ServeMux{},
		fast:   map[string]*fastRouter{},
		infos:  map[string]*listenerInfo{},
		state:  &lifespanState{},
	}
	date := &dateClock{}
	for _, l := range cfg.Listeners {
		p.muxes[l.Name] = http.NewServeMux()
		p.fast[l.Name] = newFastRouter()
		p.infos[l.Name] = &listenerInfo{
			name: l.Name, unix: l.Network == "unix", addr: l.Addr, tls: l.TLS != nil,
			limits: l.Limits, shutting: opts.shutting, date: date,
		}
	}
	var errs []error
	for _, site := range cfg.Sites {
		siteLog := log.With("site", site.Name)
		siteMW, err := p.buildMiddleware(site.Middleware, &config.BuildContext{Logger: siteLog, Site: site, Services: opts.Services})
		if err != nil {
			errs = append(errs, fmt.Errorf("site %q: %w", site.Name, err))
			continue
		}
		for _, r := range site.Routes {
			rlog := siteLog.With("route", r.Pattern)
			app, err := p.buildRoute(site, r, siteMW, rlog, opts.Services)
			if err != nil {
				errs = append(errs, fmt.Errorf("site %q route %q (%s): %w", site.Name, r.Pattern, r.DefRange, err))
				continue
			}
			p.apps = append(p.apps, app)
			for _, lname := range site.Listeners {
				info := p.infos[lname]
				if info == nil {
					errs = append(errs, fmt.Errorf("site %q: unknown listener %q", site.Name, lname))
					continue
				}
				rt := &route{
					app: app, pattern: r.Pattern, site: site.Name, params: r.Params,
					mountSegs: mountSegments(r), ln: info, state: p.state, log: rlog,
					ws: webSocketOptionsFor(r), inflight: &p.inflight,
				}
				for _, pat := range muxPatterns(site, r) {
					if err := handleSafely(p.muxes[lname], pat, rt); err != nil {
						errs = append(errs, fmt.Errorf("site %q route %q: %w", site.Name, r.Pattern, err))
						continue
					}
					p.fast[lname].add(pat, rt)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		p.Cleanup()
		return nil, err
	}
	return p, nil
}

func (p *Pipeline) buildRoute(site *config.Site, r *config.Route, siteMW []pagi.Middleware, log *slog.Logger, services map[string]any) (pagi.App, error) {
	ctx := &config.BuildContext{Logger: log, Dir: r.Handler.Dir, Route: r, Site: site, Services: services}
	hm, ok := r.Handler.Module.(config.HandlerModule)
	if !ok {
		return nil, fmt.Errorf("block %q is not a handler", r.Handler.Type)
	}
	app, err := hm.BuildApp(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Handler.Type, err)
	}
	p.track(app, r.Handler.Module)
	routeMW, err := p.buildMiddleware(r.Middleware, ctx)
	if err != nil {
		return nil, err
	}
	mws := append(append([]pagi.Middleware(nil), siteMW...), routeMW...)
	return pagi.Chain(mws...)(app), nil
}

func (p *Pipeline) buildMiddleware(uses []*config.Use, ctx *config.BuildContext) ([]pagi.Middleware, error) {
	var out []pagi.Middleware
	for _, u := range uses {
		mm, ok := u.Module.(config.MiddlewareModule)
		if !ok {
			return nil, fmt.Errorf("block %q is not a middleware", u.Type)
		}
		c := *ctx
		c.Dir = u.Dir
		mw, err := mm.BuildMiddleware(&c)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", u.Type, u.DefRange, err)
		}
		p.track(mw, u.Module)
		out = append(out, mw)
	}
	return out, nil
}

// track remembers built parts that hold resources.
func (p *Pipeline) track(built, module any) {
	if c, ok := built.(config.Cleaner); ok {
		p.cleaners = append(p.cleaners, c)
	}
	if c, ok := module.(config.Cleaner); ok {
		p.cleaners = append(p.cleaners, c)
	}
}

// Cleanup releases the resources of every module of the pipeline.
func (p *Pipeline) Cleanup() error {
	var errs []error
	for _, c := range p.cleaners {
		if err := c.Cleanup(); err != nil {
			errs = append(errs, err)
		}
	}
	p.cleaners = nil
	return errors.Join(errs...)
}

// InFlight is the number of requests currently served by the pipeline.
func (p *Pipeline) InFlight() int64 { return p.inflight.Load() }

// muxPatterns returns the ServeMux patterns of a route: once per site host,
// or the route's own pattern when the site has no hosts.
func muxPatterns(site *config.Site, r *config.Route) []string {
	if len(site.Hosts) == 0 || r.Host != "" {
		return []string{r.Pattern}
	}
	pats := make([]string, 0, len(site.Hosts))
	for _, h := range site.Hosts {
		pat := h + r.Path
		if r.Method != "" {
			pat = r.Method + " " + pat
		}
		pats = append(pats, pat)
	}
	return pats
}

// mountSegments is the number of path segments of a mount route's prefix
// (0 for routes that are not mounts, and for "/").
func mountSegments(r *config.Route) int {
	if !r.Mount {
		return 0
	}
	trimmed := strings.Trim(r.Path, "/")
	if trimmed == "" {
		return 0
	}
	return strings.Count(trimmed, "/") + 1
}

// handleSafely registers a pattern, turning ServeMux's panic on an invalid
// or conflicting pattern into an error (config validation reports these
// with positions first; this is the last line of defence).
func handleSafely(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("pattern %q: %v", pattern, v)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// webSocketOptionsFor returns the WebSocket options of a route: its
// handler's, when the handler module sets them (config.WebSocketTuner), or
// the defaults.
func webSocketOptionsFor(r *config.Route) WebSocketOptions {
	o := DefaultWebSocketOptions
	if t, ok := r.Handler.Module.(config.WebSocketTuner); ok {
		ws := t.WebSocketOptions()
		o.Compression = ws.Compression
		if ws.MaxMessageBytes > 0 {
			o.MaxMessageBytes = ws.MaxMessageBytes
		}
		if ws.MaxQueue > 0 {
			o.MaxQueue = ws.MaxQueue
		}
	}
	return o
}
