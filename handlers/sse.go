package handlers

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/pubsub"
)

func init() {
	config.Register(config.BlockType{
		Name: "sse", Kind: config.KindHandler,
		Doc: "streams a pubsub channel as Server-Sent Events",
		New: func() any { return &SSE{Keepalive: config.Duration(15e9), Replay: true} },
	})
}

// SSE is the sse handler: it streams the messages of a pubsub channel to
// EventSource clients.
//
//	sse {
//	  channel   = "news"
//	  keepalive = "15s"   # comment line interval (0: none)
//	  retry     = "3s"    # reconnection delay hint sent first (0: none)
//	  replay    = true    # send what a reconnecting client missed (Last-Event-ID), when the backend keeps history
//	}
//
// Each message becomes one event: its Event as "event:", its ID as "id:",
// its data split into "data:" lines.
type SSE struct {
	Channel   string          `hcl:"channel"`
	Keepalive config.Duration `hcl:"keepalive,optional"`
	Retry     config.Duration `hcl:"retry,optional"`
	Replay    bool            `hcl:"replay,optional"`
}

var (
	_ config.Validator     = (*SSE)(nil)
	_ config.HandlerModule = (*SSE)(nil)
)

// Validate checks the channel and durations.
func (h *SSE) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	diags := validateChannel(ctx, "channel", h.Channel)
	if h.Keepalive < 0 {
		diags = append(diags, ctx.Error("keepalive", "Invalid duration", "keepalive must not be negative"))
	}
	if h.Retry < 0 {
		diags = append(diags, ctx.Error("retry", "Invalid duration", "retry must not be negative"))
	}
	return diags
}

// BuildApp returns the streaming app.
func (h *SSE) BuildApp(ctx *config.BuildContext) (pagi.App, error) {
	broker, err := brokerFrom(ctx)
	if err != nil {
		return nil, err
	}
	channel, err := newChannelTemplate(h.Channel)
	if err != nil {
		return nil, err
	}
	replayer, _ := broker.(pubsub.Replayer)
	if !h.Replay {
		replayer = nil
	}
	keepalive := &pagi.SSEKeepalive{Interval: h.Keepalive.D()}
	retry := h.Retry.D()
	return func(c context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		switch s.Type {
		case pagi.ScopeSSE:
		case pagi.ScopeLifespan:
			return pagi.ErrUnsupportedScope
		default:
			return pagi.Respond(c, s, send, 406, pagi.Headers{{Name: "content-type", Value: "text/plain; charset=utf-8"}},
				[]byte("this endpoint streams text/event-stream; send Accept: text/event-stream\n"))
		}
		name, err := channel.name(s)
		if err != nil {
			return pagi.Respond(c, s, send, 400, nil, []byte(err.Error()))
		}
		c, cancel := context.WithCancel(c)
		defer cancel()
		sub, err := broker.Subscribe(c, name)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", name, err)
		}
		defer sub.Close()
		if err := send(c, &pagi.SSEStart{Status: 200}); err != nil {
			return err
		}
		if retry > 0 {
			if err := send(c, &pagi.SSESend{Data: "", Event: "", Retry: retry}); err != nil {
				return err
			}
		}
		if keepalive.Interval > 0 {
			if err := send(c, keepalive); err != nil {
				return err
			}
		}
		replayed := map[string]bool{}
		if last := s.Header("last-event-id"); last != "" && replayer != nil {
			if msgs, ok := replayer.Since(name, last); ok {
				for _, m := range msgs {
					replayed[m.ID] = true
					if err := send(c, eventOf(&m)); err != nil {
						return err
					}
				}
			}
		}
		// The client's departure arrives through receive: with
		// ReceiveReady this goroutine waits for it beside the messages;
		// without, a second one does.
		gone := s.ReceiveReady
		if gone == nil {
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					ev, err := receive(c)
					if err != nil || ev.Type() == pagi.TypeSSEDisconnect {
						return
					}
				}
			}()
			gone = done
		}
		// One event value serves the whole stream: send is done with it
		// when it returns.
		var ev pagi.SSESend
		for {
			select {
			case m, ok := <-sub.C():
				if !ok {
					return nil
				}
				if replayed[m.ID] {
					continue
				}
				fillEvent(&ev, m)
				if err := send(c, &ev); err != nil {
					return err
				}
			case <-gone:
				return nil
			}
		}
	}, nil
}

func eventOf(m *pubsub.Message) *pagi.SSESend {
	ev := &pagi.SSESend{}
	fillEvent(ev, m)
	return ev
}

// fillEvent sets ev to the event of m. The data is shared, not copied: a
// message's Data is read-only for every subscriber (see pubsub.Message),
// and the engine only reads it while send runs.
func fillEvent(ev *pagi.SSESend, m *pubsub.Message) {
	*ev = pagi.SSESend{
		Data:  unsafe.String(unsafe.SliceData(m.Data), len(m.Data)),
		Event: sanitizeField(m.Event),
		ID:    sanitizeField(m.ID),
	}
}

// sanitizeField drops what may not appear in an event or id field, so a
// published message cannot inject SSE fields.
func sanitizeField(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' || v[i] == 0 {
			out := make([]byte, 0, len(v))
			for j := 0; j < len(v); j++ {
				if v[j] != '\r' && v[j] != '\n' && v[j] != 0 {
					out = append(out, v[j])
				}
			}
			return string(out)
		}
	}
	return v
}
