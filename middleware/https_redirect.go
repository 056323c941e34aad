package middleware

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "https_redirect", Kind: config.KindMiddleware,
		Doc: "redirects http requests to https and adds Strict-Transport-Security",
		New: func() any {
			return &HTTPSRedirect{Status: 308, Port: 443, HSTSMaxAge: config.Duration(31536e9)}
		},
	})
}

// HTTPSRedirect is the https_redirect middleware: requests that arrived
// over plain http (or ws) are answered with a redirect to the same URL on
// https; requests over https pass, optionally with HSTS added.
//
//	https_redirect {
//	  status  = 308                                # 301 | 302 | 307 | 308
//	  port    = 443                                # https port for the Location
//	  exclude = ["/.well-known/acme-challenge/"]   # path prefixes served over http too
//	  hsts    = true                               # Strict-Transport-Security on https responses
//	  hsts_max_age            = 31536000           # seconds, or "8760h"
//	  hsts_include_subdomains = false
//	  hsts_preload            = false
//	}
//
// The Location is https:// + the request's host (its port replaced by
// port, left out when 443) + the path as the client sent it + the query.
// A request without a usable Host header gets 400. Put forwarded before
// https_redirect behind a TLS-terminating proxy, or every request looks
// like http. The HSTS header is not added when the app set one.
type HTTPSRedirect struct {
	// Status is the redirect status: 301, 302, 307 or 308.
	Status int `hcl:"status,optional"`
	// Port is the https port written into the Location (omitted when 443).
	Port int `hcl:"port,optional"`
	// Exclude lists path prefixes (of root_path + path) not redirected.
	Exclude []string `hcl:"exclude,optional"`
	// HSTS adds Strict-Transport-Security to https responses.
	HSTS bool `hcl:"hsts,optional"`
	// HSTSMaxAge is the max-age of the HSTS header (whole seconds).
	HSTSMaxAge config.Duration `hcl:"hsts_max_age,optional"`
	// HSTSIncludeSubdomains adds includeSubDomains.
	HSTSIncludeSubdomains bool `hcl:"hsts_include_subdomains,optional"`
	// HSTSPreload adds preload.
	HSTSPreload bool `hcl:"hsts_preload,optional"`
}

var (
	_ config.Validator        = (*HTTPSRedirect)(nil)
	_ config.MiddlewareModule = (*HTTPSRedirect)(nil)
)

// Validate checks the status, port and exclusions.
func (h *HTTPSRedirect) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch h.Status {
	case 301, 302, 307, 308:
	default:
		diags = append(diags, ctx.Error("status", "Invalid redirect status",
			fmt.Sprintf("status must be 301, 302, 307 or 308, got %d", h.Status)))
	}
	if h.Port < 1 || h.Port > 65535 {
		diags = append(diags, ctx.Error("port", "Invalid port", fmt.Sprintf("port must be 1..65535, got %d", h.Port)))
	}
	l := setaLoc{ctx: ctx}
	for i, e := range h.Exclude {
		if !strings.HasPrefix(e, "/") {
			diags = append(diags, setaError(l.elem("exclude", i), "Invalid exclusion",
				fmt.Sprintf("%q must be a path prefix starting with /", e)))
		}
	}
	diags = append(diags, setaCheckHSTS(ctx, h.HSTS, h.HSTSMaxAge, h.HSTSIncludeSubdomains, h.HSTSPreload)...)
	return diags
}

// BuildMiddleware prepares the redirect and HSTS values.
func (h *HTTPSRedirect) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	status := h.Status
	portSuffix := ""
	if h.Port != 443 {
		portSuffix = ":" + strconv.Itoa(h.Port)
	}
	exclude := append([]string(nil), h.Exclude...)
	var hsts pagi.Header
	if h.HSTS {
		hsts = pagi.Header{Name: "strict-transport-security", Value: setaHSTS(h.HSTSMaxAge, h.HSTSIncludeSubdomains, h.HSTSPreload)}
	}
	hstsField := pagi.Headers{hsts}
	badHost := pagi.Headers{setaTextPlain}
	badHostBody := []byte("400 Bad Request: missing or invalid Host header\n")
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan {
				return next(ctx, s, receive, send)
			}
			if setaSecure(s) {
				if hsts.Name == "" {
					return next(ctx, s, receive, send)
				}
				c := getCall()
				defer putCall(c)
				c.next, c.onStart, c.add = send, addMissing, hstsField
				return next(ctx, s, receive, c.sendFn)
			}
			for _, e := range exclude {
				if setaHasJoinedPrefix(s.RootPath, s.Path, e) {
					return next(ctx, s, receive, send)
				}
			}
			host, ok := httpsRedirectHost(s.Header("host"))
			if !ok {
				return pagi.Respond(ctx, s, send, 400, badHost, badHostBody)
			}
			var b strings.Builder
			b.Grow(len("https://") + len(host) + len(portSuffix) + len(s.RawPath) + 1 + len(s.QueryString))
			b.WriteString("https://")
			b.WriteString(host)
			b.WriteString(portSuffix)
			p := s.RawPath
			if p == "" || p[0] != '/' {
				p = "/" + p
			}
			b.WriteString(p)
			if s.QueryString != "" {
				b.WriteByte('?')
				b.WriteString(s.QueryString)
			}
			return pagi.Respond(ctx, s, send, status, pagi.Headers{{Name: "location", Value: b.String()}}, nil)
		}
	}, nil
}

// httpsRedirectHost returns the host name of a Host header without its port,
// and false when it is empty or holds anything but a host name, an IPv4
// address or a bracketed IPv6 address (so the Location cannot be turned
// into another URL).
func httpsRedirectHost(h string) (string, bool) {
	if h == "" || !fwdValidHost(h) {
		return "", false
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 || strings.ContainsAny(h[1:end], "[]") {
			return "", false
		}
		rest := h[end+1:]
		if rest != "" && (rest[0] != ':' || fwdPort(rest[1:]) == 0) {
			return "", false
		}
		return h[:end+1], true
	}
	name, port, hasPort := strings.Cut(h, ":")
	if name == "" || strings.ContainsAny(name, "[]") || (hasPort && fwdPort(port) == 0) {
		return "", false
	}
	return name, true
}
