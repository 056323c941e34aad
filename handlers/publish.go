package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"mime"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/pubsub"
)

func init() {
	config.Register(config.BlockType{
		Name: "publish", Kind: config.KindHandler,
		Doc: "publishes the request body to a pubsub channel",
		New: func() any { return &Publish{MaxBytes: 64 << 10} },
	})
}

// Publish is the publish handler: a POST's body goes to a pubsub channel.
//
//	publish {
//	  channel   = "{channel}"
//	  max_bytes = "64KiB"   # larger bodies get 413
//	}
//
// A body sent as application/json holding an object with "data" (and
// optionally "event" and "id") publishes those fields; any other body is
// published as it is. Answers: 202 published, 413 too large, 503 when the
// pubsub backend is down, 400 for a bad channel name or JSON.
type Publish struct {
	Channel  string      `hcl:"channel"`
	MaxBytes config.Size `hcl:"max_bytes,optional"`
}

var (
	_ config.Validator     = (*Publish)(nil)
	_ config.HandlerModule = (*Publish)(nil)
)

// Validate checks the channel and the size limit.
func (p *Publish) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	diags := validateChannel(ctx, "channel", p.Channel)
	if p.MaxBytes <= 0 {
		diags = append(diags, ctx.Error("max_bytes", "Invalid size", "max_bytes must be positive"))
	}
	return diags
}

var jsonHeaders = pagi.Headers{{Name: "content-type", Value: "application/json"}}

// BuildApp returns the publishing app.
func (p *Publish) BuildApp(ctx *config.BuildContext) (pagi.App, error) {
	broker, err := brokerFrom(ctx)
	if err != nil {
		return nil, err
	}
	channel, err := newChannelTemplate(p.Channel)
	if err != nil {
		return nil, err
	}
	limit := int(p.MaxBytes)
	return func(c context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		reply := func(status int, msg string) error {
			body, _ := json.Marshal(map[string]string{"status": msg})
			return pagi.Respond(c, s, send, status, jsonHeaders, append(body, '\n'))
		}
		if s.Type != pagi.ScopeHTTP {
			return reply(400, "publish takes a plain HTTP request")
		}
		name, err := channel.name(s)
		if err != nil {
			return reply(400, err.Error())
		}
		body, tooLarge, err := readBody(c, receive, limit)
		if err != nil {
			return err
		}
		if tooLarge {
			return reply(413, "body larger than max_bytes")
		}
		msg := pubsub.Message{Data: body}
		if ct, _, _ := mime.ParseMediaType(s.Header("content-type")); ct == "application/json" {
			var in struct {
				Data  *json.RawMessage `json:"data"`
				Event string           `json:"event"`
				ID    string           `json:"id"`
			}
			if json.Unmarshal(body, &in) == nil && in.Data != nil {
				msg = pubsub.Message{Data: rawOrString(*in.Data), Event: in.Event, ID: in.ID}
			}
		}
		switch err := broker.Publish(c, name, msg); {
		case err == nil:
			return reply(202, "published")
		case errors.Is(err, pubsub.ErrTooLarge):
			return reply(413, "message too large")
		case errors.Is(err, pubsub.ErrUnavailable), errors.Is(err, pubsub.ErrClosed):
			return reply(503, "pubsub backend unavailable")
		default:
			return err
		}
	}, nil
}

// rawOrString returns a JSON string's value, or the JSON text of anything
// else.
func rawOrString(raw json.RawMessage) []byte {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	return raw
}

// readBody reads the request body up to limit bytes; tooLarge reports a body
// over the limit (the rest is not read).
func readBody(ctx context.Context, receive pagi.Receive, limit int) (body []byte, tooLarge bool, err error) {
	for {
		ev, err := receive(ctx)
		if err != nil {
			return nil, false, err
		}
		r, ok := ev.(*pagi.HTTPRequest)
		if !ok {
			return nil, false, errors.New("client left before the body was read")
		}
		body = append(body, r.Body...)
		if len(body) > limit {
			return nil, true, nil
		}
		if !r.More {
			return body, false, nil
		}
	}
}
