package handlers

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/pubsub"
)

// channelTemplate is a pubsub channel name with {param} placeholders filled
// from the route's parameters, parsed once when the config is built.
type channelTemplate struct {
	parts []templatePart
	fixed string // the whole name when it has no placeholders
}

func newChannelTemplate(t string) (channelTemplate, error) {
	parts, err := parseTemplate(t)
	if err != nil {
		return channelTemplate{}, err
	}
	ct := channelTemplate{parts: parts}
	if len(parts) == 1 && parts[0].param == "" {
		ct.fixed = parts[0].literal
	}
	return ct, nil
}

// name returns the channel for a scope, or an error when a parameter value
// is not a valid channel name part.
func (c channelTemplate) name(s *pagi.Scope) (string, error) {
	if c.fixed != "" {
		return c.fixed, nil
	}
	var b strings.Builder
	for _, p := range c.parts {
		if p.param == "" {
			b.WriteString(p.literal)
			continue
		}
		v, _ := s.Params.Get(p.param)
		if !validChannelPart(v) {
			return "", fmt.Errorf("invalid channel name part %q", v)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// validChannelPart allows 1..100 characters of [A-Za-z0-9._:-].
func validChannelPart(v string) bool {
	if v == "" || len(v) > 100 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// validateChannel checks a channel attribute: its placeholders must be
// parameters of the route.
func validateChannel(ctx *config.ValidateContext, attr, value string) hcl.Diagnostics {
	if value == "" {
		return hcl.Diagnostics{ctx.Error(attr, "Empty channel", "give the pubsub channel to use, e.g. \"chat.{room}\"")}
	}
	parts, err := parseTemplate(value)
	if err != nil {
		return hcl.Diagnostics{ctx.Error(attr, "Invalid channel", err.Error())}
	}
	var diags hcl.Diagnostics
	for _, p := range parts {
		if p.param != "" && (ctx.Route == nil || !contains(ctx.Route.Params, p.param)) {
			diags = append(diags, ctx.Error(attr, "Unknown placeholder",
				fmt.Sprintf("{%s} is not a parameter of the route", p.param)))
		}
	}
	return diags
}

// brokerFrom returns the pipeline's pubsub broker.
func brokerFrom(ctx *config.BuildContext) (pubsub.Broker, error) {
	b, ok := ctx.Services["pubsub"].(pubsub.Broker)
	if !ok || b == nil {
		return nil, fmt.Errorf("no pubsub broker is configured")
	}
	return b, nil
}
