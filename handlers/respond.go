// Package handlers holds pagi's built-in handler types: the PAGI apps a
// route can end in. Each type lives in its own file, registers itself with
// the config registry in init, and resolves everything it can when built,
// so its per-request work is only what really varies.
package handlers

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "respond", Kind: config.KindHandler,
		Doc: "answers with a fixed status, headers and body",
		New: func() any { return &Respond{Status: http.StatusOK} },
	})
}

// Respond is the respond handler: a fixed response built once.
//
//	respond {
//	  status  = 200
//	  body    = "Hello"
//	  headers = { "cache-control" = "no-store" }
//	}
//
// Without a content-type header, a non-empty body is sent as
// "text/plain; charset=utf-8".
type Respond struct {
	Status  int               `hcl:"status,optional"`
	Body    string            `hcl:"body,optional"`
	Headers map[string]string `hcl:"headers,optional"`
}

var (
	_ config.Validator     = (*Respond)(nil)
	_ config.HandlerModule = (*Respond)(nil)
)

// Validate checks the status and the headers.
func (r *Respond) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if r.Status < 200 || r.Status > 599 {
		diags = append(diags, ctx.Error("status", "Invalid status", fmt.Sprintf("status must be 200..599, got %d", r.Status)))
	}
	diags = append(diags, validateHeaderMap(ctx, "headers", r.Headers)...)
	return diags
}

// BuildApp prepares the response events once; every request sends the same
// two events.
func (r *Respond) BuildApp(*config.BuildContext) (pagi.App, error) {
	headers := headerList(r.Headers)
	if r.Body != "" && !headers.Has("content-type") {
		headers = append(headers, pagi.Header{Name: "content-type", Value: "text/plain; charset=utf-8"})
	}
	body := []byte(r.Body)
	start := &pagi.HTTPResponseStart{Status: r.Status, Headers: headers}
	bodyEv := &pagi.HTTPResponseBody{Body: body}
	status := r.Status
	return func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			if s.Type == pagi.ScopeLifespan {
				return pagi.ErrUnsupportedScope
			}
			return pagi.Respond(ctx, s, send, status, headers, body)
		}
		if err := send(ctx, start); err != nil {
			return err
		}
		return send(ctx, bodyEv)
	}, nil
}

// headerList turns an HCL header map into PAGI headers: lower-case names,
// sorted so the order does not depend on map iteration.
func headerList(m map[string]string) pagi.Headers {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make(pagi.Headers, 0, len(m))
	for _, k := range names {
		out = append(out, pagi.Header{Name: strings.ToLower(k), Value: m[k]})
	}
	return out
}

// validateHeaderMap reports header names or values that could split a
// response.
func validateHeaderMap(ctx *config.ValidateContext, attr string, m map[string]string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, h := range headerList(m) {
		if err := pagi.ValidateHeader(h.Name, h.Value); err != nil {
			diags = append(diags, ctx.Error(attr, "Invalid header", err.Error()))
		}
	}
	return diags
}
