package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "xsendfile", Kind: config.KindMiddleware,
		Doc: "hands file responses to the front proxy (X-Accel-Redirect, X-Sendfile)",
		New: func() any { return &XSendfile{Type: "x-accel-redirect"} },
	})
}

// XSendfile is the xsendfile middleware: a file response (a body event with
// File or FH) goes out as a header naming the file and an empty body, and
// the front proxy sends the file itself.
//
//	xsendfile {
//	  type    = "x-accel-redirect"             # nginx; or x-sendfile (Apache), x-lighttpd-send-file
//	  mapping = { "/srv/files/" = "/protected/" }  # filesystem prefix = URL prefix
//	}
//
// With x-accel-redirect the header holds a URL: the file's absolute path
// with its longest matching mapping prefix replaced (the nginx location
// for "/protected/" would be "internal; alias /srv/files/;"). A file outside
// every mapping, or whose URL would hold a '?', goes out as usual (logged
// at debug level), as does a response with Content-Encoding, since nginx
// does not carry that header over to the file it serves. With x-sendfile
// and x-lighttpd-send-file the header holds the absolute file path, mapped
// the same way when a mapping matches.
//
// Partial responses (a body with an Offset or a Length short of the
// file's size, or status 206) pass
// untouched; let the proxy do ranges: with static behind this middleware,
// range requests are still answered by static itself, while whole files
// go to the proxy, which then applies the client's Range on its own. The
// response's Content-Length is removed; its other headers stay.
type XSendfile struct {
	// Type is x-accel-redirect, x-sendfile or x-lighttpd-send-file.
	Type string `hcl:"type,optional"`
	// Mapping maps absolute filesystem prefixes to URL (or path) prefixes.
	Mapping map[string]string `hcl:"mapping,optional"`
}

var (
	_ config.Validator        = (*XSendfile)(nil)
	_ config.MiddlewareModule = (*XSendfile)(nil)
)

// Validate checks the type and the mapping.
func (x *XSendfile) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch x.Type {
	case "x-accel-redirect":
		if len(x.Mapping) == 0 {
			diags = append(diags, ctx.Error("mapping", "Missing mapping",
				`x-accel-redirect needs a mapping from filesystem prefixes to URL prefixes, like { "/srv/files/" = "/protected/" }`))
		}
	case "x-sendfile", "x-lighttpd-send-file":
	default:
		diags = append(diags, ctx.Error("type", "Unknown xsendfile type",
			fmt.Sprintf("type must be x-accel-redirect, x-sendfile or x-lighttpd-send-file, got %q", x.Type)))
	}
	for from, to := range x.Mapping {
		if from == "" || strings.ContainsAny(from, "\x00") {
			diags = append(diags, ctx.Error("mapping", "Invalid mapping", fmt.Sprintf("%q is not a filesystem path", from)))
		}
		if !strings.HasPrefix(to, "/") || strings.ContainsAny(to, "\r\n\x00?") {
			diags = append(diags, ctx.Error("mapping", "Invalid mapping",
				fmt.Sprintf("the target of %q must be a path starting with /, got %q", from, to)))
		}
	}
	return diags
}

// xsendfileMap is one mapping entry, normalised to end in "/".
type xsendfileMap struct {
	from, to string
}

// BuildMiddleware sorts the mapping, longest prefix first, and returns the
// middleware.
func (x *XSendfile) BuildMiddleware(ctx *config.BuildContext) (pagi.Middleware, error) {
	m := &xsendfileMW{header: x.Type, accel: x.Type == "x-accel-redirect", log: ctx.Logger}
	for from, to := range x.Mapping {
		from = filepath.Clean(sbResolve(ctx.Dir, from))
		if !strings.HasSuffix(from, "/") {
			from += "/"
		}
		if !strings.HasSuffix(to, "/") {
			to += "/"
		}
		m.mapping = append(m.mapping, xsendfileMap{from: from, to: to})
	}
	sort.Slice(m.mapping, func(i, j int) bool {
		if len(m.mapping[i].from) != len(m.mapping[j].from) {
			return len(m.mapping[i].from) > len(m.mapping[j].from)
		}
		return m.mapping[i].from < m.mapping[j].from
	})
	m.pool.New = func() any {
		r := &xsendfileResp{m: m}
		r.sendFn = r.send
		return r
	}
	return m.middleware, nil
}

// xsendfileMW is a built xsendfile middleware.
type xsendfileMW struct {
	header  string
	accel   bool
	mapping []xsendfileMap
	log     *slog.Logger
	pool    sync.Pool // of *xsendfileResp
}

func (m *xsendfileMW) middleware(next pagi.App) pagi.App {
	return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return next(ctx, s, receive, send)
		}
		r := m.pool.Get().(*xsendfileResp)
		r.next = send
		err := next(ctx, s, receive, r.sendFn)
		if r.held {
			if serr := send(ctx, &r.start); err == nil {
				err = serr
			}
		}
		clear(r.hdrs)
		r.hdrs = r.hdrs[:0]
		r.start, r.next, r.held, r.done = pagi.HTTPResponseStart{}, nil, false, false
		m.pool.Put(r)
		return err
	}
}

// target returns the header value for a file path, or "" when the file
// must be sent as usual.
func (m *xsendfileMW) target(p string) string {
	if !filepath.IsAbs(p) {
		abs, err := filepath.Abs(p)
		if err != nil {
			return ""
		}
		p = abs
	}
	p = filepath.Clean(p)
	for _, mp := range m.mapping {
		if rest, ok := strings.CutPrefix(p, mp.from); ok {
			p = mp.to + rest
			if m.accel && strings.Contains(p, "?") {
				return ""
			}
			return p
		}
	}
	if m.accel {
		return ""
	}
	return p
}

// xsendfileResp is the per-response state: the start is held until the
// first body says whether it is a file.
type xsendfileResp struct {
	m      *xsendfileMW
	next   pagi.Send
	sendFn pagi.Send
	held   bool
	done   bool
	start  pagi.HTTPResponseStart
	hdrs   pagi.Headers
	empty  pagi.HTTPResponseBody
}

func (r *xsendfileResp) send(ctx context.Context, ev pagi.Event) error {
	if r.done {
		return r.next(ctx, ev)
	}
	switch e := ev.(type) {
	case *pagi.HTTPResponseStart:
		if r.held || e.Status == http.StatusPartialContent || (r.m.accel && e.Headers.Has("content-encoding")) ||
			e.Headers.Has("content-range") {
			r.done = true
			return r.next(ctx, ev)
		}
		if err := e.Headers.Validate(); err != nil {
			return err
		}
		r.start = *e
		r.hdrs = append(r.hdrs[:0], e.Headers...)
		r.start.Headers = r.hdrs
		r.held = true
		return nil
	case *pagi.HTTPResponseBody:
		if !r.held {
			break
		}
		r.held, r.done = false, true
		if sbIsFile(e) && sbWholeFile(e) {
			path := e.File
			if e.FH != nil {
				path = e.FH.Name()
			}
			if v := r.m.target(path); v != "" && pagi.ValidateHeader(r.m.header, v) == nil {
				r.hdrs = append(r.hdrs.Del("content-length"), pagi.Header{Name: r.m.header, Value: v})
				r.start.Headers = r.hdrs
				if err := r.next(ctx, &r.start); err != nil {
					return err
				}
				return r.next(ctx, &r.empty)
			}
			if r.m.log != nil {
				r.m.log.Debug("xsendfile: file outside every mapping sent directly", "file", path)
			}
		}
		if err := r.next(ctx, &r.start); err != nil {
			return err
		}
	}
	return r.next(ctx, ev)
}

// sbWholeFile reports whether a file body sends the whole file: no offset,
// and no length or the file's own size (the static handler states it).
func sbWholeFile(e *pagi.HTTPResponseBody) bool {
	if e.Offset != 0 {
		return false
	}
	if e.Length <= 0 {
		return true
	}
	var fi os.FileInfo
	var err error
	if e.FH != nil {
		fi, err = e.FH.Stat()
	} else {
		fi, err = os.Stat(e.File)
	}
	return err == nil && fi.Size() == e.Length
}
