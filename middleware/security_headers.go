package middleware

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "security_headers", Kind: config.KindMiddleware,
		Doc: "adds security response headers (nosniff, frame options, referrer policy, CSP, HSTS)",
		New: func() any {
			return &SecurityHeaders{
				ContentTypeOptions: "nosniff",
				FrameOptions:       "SAMEORIGIN",
				ReferrerPolicy:     "strict-origin-when-cross-origin",
				HSTSMaxAge:         config.Duration(31536e9),
			}
		},
	})
}

// SecurityHeaders is the security_headers middleware: it adds the usual
// security headers to every response, unless the app set them itself.
//
//	security_headers {
//	  x_content_type_options  = "nosniff"                          # "" turns a header off
//	  x_frame_options         = "SAMEORIGIN"
//	  referrer_policy         = "strict-origin-when-cross-origin"
//	  content_security_policy = "default-src 'self'"               # off by default
//	  permissions_policy      = "geolocation=()"                   # off by default
//	  hsts                    = false                              # Strict-Transport-Security, https only
//	  hsts_max_age            = 31536000
//	  hsts_include_subdomains = false
//	  hsts_preload            = false
//	}
//
// The headers go on every response start (http responses, SSE streams,
// WebSocket accepts, declines and denials). Strict-Transport-Security is
// sent only on https (and wss) requests, where browsers heed it.
type SecurityHeaders struct {
	// ContentTypeOptions is the X-Content-Type-Options value ("" for none).
	ContentTypeOptions string `hcl:"x_content_type_options,optional"`
	// FrameOptions is the X-Frame-Options value ("" for none).
	FrameOptions string `hcl:"x_frame_options,optional"`
	// ReferrerPolicy is the Referrer-Policy value ("" for none).
	ReferrerPolicy string `hcl:"referrer_policy,optional"`
	// ContentSecurityPolicy is the Content-Security-Policy value ("" for none).
	ContentSecurityPolicy string `hcl:"content_security_policy,optional"`
	// PermissionsPolicy is the Permissions-Policy value ("" for none).
	PermissionsPolicy string `hcl:"permissions_policy,optional"`
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
	_ config.Validator        = (*SecurityHeaders)(nil)
	_ config.MiddlewareModule = (*SecurityHeaders)(nil)
)

// fields returns the configured headers, attribute name first.
func (h *SecurityHeaders) fields() [][3]string {
	return [][3]string{
		{"x_content_type_options", "x-content-type-options", h.ContentTypeOptions},
		{"x_frame_options", "x-frame-options", h.FrameOptions},
		{"referrer_policy", "referrer-policy", h.ReferrerPolicy},
		{"content_security_policy", "content-security-policy", h.ContentSecurityPolicy},
		{"permissions_policy", "permissions-policy", h.PermissionsPolicy},
	}
}

// Validate checks that no value could split a response.
func (h *SecurityHeaders) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, f := range h.fields() {
		if err := pagi.ValidateHeader(f[1], f[2]); err != nil {
			diags = append(diags, ctx.Error(f[0], "Invalid header value",
				fmt.Sprintf("%v; a header value must not contain CR, LF or NUL", err)))
		}
	}
	diags = append(diags, setaCheckHSTS(ctx, h.HSTS, h.HSTSMaxAge, h.HSTSIncludeSubdomains, h.HSTSPreload)...)
	return diags
}

// BuildMiddleware builds the header lists once: one for plain requests,
// one (with HSTS) for secure ones.
func (h *SecurityHeaders) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	var plain pagi.Headers
	for _, f := range h.fields() {
		if f[2] != "" {
			plain = append(plain, pagi.Header{Name: f[1], Value: f[2]})
		}
	}
	secure := plain
	if h.HSTS {
		secure = append(plain.Clone(), pagi.Header{Name: "strict-transport-security",
			Value: setaHSTS(h.HSTSMaxAge, h.HSTSIncludeSubdomains, h.HSTSPreload)})
	}
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			add := plain
			if setaSecure(s) {
				add = secure
			}
			if s.Type == pagi.ScopeLifespan || len(add) == 0 {
				return next(ctx, s, receive, send)
			}
			c := getCall()
			defer putCall(c)
			c.next, c.onStart, c.add = send, addMissing, add
			return next(ctx, s, receive, c.sendFn)
		}
	}, nil
}
