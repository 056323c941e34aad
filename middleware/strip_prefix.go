package middleware

import (
	"context"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "strip_prefix", Kind: config.KindMiddleware,
		Doc: "moves a path prefix from path to root_path",
		New: func() any { return &StripPrefix{} },
	})
}

// StripPrefix is the strip_prefix middleware: it mounts the app below a
// prefix by moving the prefix from scope.Path to scope.RootPath.
//
//	strip_prefix {
//	  prefix = "/api"
//	}
//
// A request for /api/users reaches the app with root_path "/api" (appended
// to any root_path it had) and path "/users"; /api itself gets path "/".
// The prefix matches whole path segments only (/api matches /api and
// /api/x, not /apix), case-sensitively, against the decoded path; other
// requests pass unchanged. raw_path, the path as sent, is not changed.
type StripPrefix struct {
	// Prefix is the path prefix to move to root_path.
	Prefix string `hcl:"prefix"`
}

var (
	_ config.Validator        = (*StripPrefix)(nil)
	_ config.MiddlewareModule = (*StripPrefix)(nil)
)

// Validate checks that the prefix is an absolute path other than "/".
func (p *StripPrefix) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	pre := strings.TrimRight(p.Prefix, "/")
	switch {
	case !strings.HasPrefix(p.Prefix, "/"):
		return hcl.Diagnostics{ctx.Error("prefix", "Invalid prefix", `prefix must start with "/", for example "/api"`)}
	case pre == "":
		return hcl.Diagnostics{ctx.Error("prefix", "Invalid prefix", `prefix "/" strips nothing; write a path such as "/api"`)}
	case strings.ContainsAny(p.Prefix, "?#\x00"):
		return hcl.Diagnostics{ctx.Error("prefix", "Invalid prefix", "prefix is a path: it must not contain ?, # or NUL")}
	}
	return nil
}

// BuildMiddleware returns the middleware.
func (p *StripPrefix) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	prefix := strings.TrimRight(p.Prefix, "/")
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan || !strings.HasPrefix(s.Path, prefix) {
				return next(ctx, s, receive, send)
			}
			rest := s.Path[len(prefix):]
			if rest != "" && rest[0] != '/' {
				return next(ctx, s, receive, send) // /apix is not below /api
			}
			if rest == "" {
				rest = "/"
			}
			s2 := s.Clone()
			s2.RootPath = s.RootPath + prefix
			s2.Path = rest
			return next(ctx, s2, receive, send)
		}
	}, nil
}
