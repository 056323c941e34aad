package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "redirect", Kind: config.KindHandler,
		Doc: "redirects to another URL",
		New: func() any { return &Redirect{Status: http.StatusFound} },
	})
}

// Redirect is the redirect handler.
//
//	redirect {
//	  to     = "https://example.com{path}{query}"
//	  status = 308
//	}
//
// In `to`, {path} is the request path (after the mount prefix), {query} is
// "?" and the query string when there is one, and {name} is the route
// parameter called name.
type Redirect struct {
	To     string `hcl:"to"`
	Status int    `hcl:"status,optional"`
}

var (
	_ config.Validator     = (*Redirect)(nil)
	_ config.HandlerModule = (*Redirect)(nil)
)

// Validate checks the status and the placeholders of `to`.
func (r *Redirect) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch r.Status {
	case 301, 302, 303, 307, 308:
	default:
		diags = append(diags, ctx.Error("status", "Invalid redirect status",
			fmt.Sprintf("status must be 301, 302, 303, 307 or 308, got %d", r.Status)))
	}
	if r.To == "" {
		diags = append(diags, ctx.Error("to", "Empty redirect target", "to must be a URL or a path"))
	}
	if strings.ContainsAny(r.To, "\r\n\x00") {
		diags = append(diags, ctx.Error("to", "Invalid redirect target", "to must not contain CR, LF or NUL"))
	}
	parts, err := parseTemplate(r.To)
	if err != nil {
		diags = append(diags, ctx.Error("to", "Invalid redirect target", err.Error()))
	}
	for _, p := range parts {
		if p.param == "" || p.param == "path" || p.param == "query" {
			continue
		}
		if ctx.Route == nil || !contains(ctx.Route.Params, p.param) {
			diags = append(diags, ctx.Error("to", "Unknown placeholder",
				fmt.Sprintf("{%s} is neither {path}, {query} nor a parameter of the route", p.param)))
		}
	}
	return diags
}

// BuildApp compiles the target template.
func (r *Redirect) BuildApp(*config.BuildContext) (pagi.App, error) {
	parts, err := parseTemplate(r.To)
	if err != nil {
		return nil, err
	}
	status := r.Status
	var fixed pagi.Headers
	if len(parts) == 1 && parts[0].param == "" {
		fixed = pagi.Headers{{Name: "location", Value: r.To}}
	}
	return func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if s.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		headers := fixed
		if headers == nil {
			headers = pagi.Headers{{Name: "location", Value: expand(parts, s)}}
		}
		return pagi.Respond(ctx, s, send, status, headers, nil)
	}, nil
}

// templatePart is a literal (param == "") or a {placeholder}.
type templatePart struct {
	literal string
	param   string
}

func parseTemplate(t string) ([]templatePart, error) {
	var parts []templatePart
	for t != "" {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			parts = append(parts, templatePart{literal: t})
			break
		}
		if i > 0 {
			parts = append(parts, templatePart{literal: t[:i]})
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed { in %q", t)
		}
		name := t[i+1 : i+j]
		if name == "" {
			return nil, fmt.Errorf("empty {} in %q", t)
		}
		parts = append(parts, templatePart{param: name})
		t = t[i+j+1:]
	}
	return parts, nil
}

func expand(parts []templatePart, s *pagi.Scope) string {
	var b strings.Builder
	for _, p := range parts {
		switch p.param {
		case "":
			b.WriteString(p.literal)
		case "path":
			b.WriteString(s.Path)
		case "query":
			if s.QueryString != "" {
				b.WriteByte('?')
				b.WriteString(s.QueryString)
			}
		default:
			v, _ := s.Params.Get(p.param)
			b.WriteString(v)
		}
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
