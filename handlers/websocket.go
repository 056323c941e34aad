package handlers

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/pubsub"
)

func init() {
	config.Register(config.BlockType{
		Name: "websocket", Kind: config.KindHandler,
		Doc: "relays WebSocket messages through a pubsub channel, or echoes them",
		New: func() any {
			return &WebSocket{MaxMessageBytes: 1 << 20, MaxQueue: 1000}
		},
	})
}

// WebSocket is the websocket handler.
//
//	websocket {
//	  channel     = "chat.{room}"  # every message goes to the channel; every channel message to every client
//	  skip_sender = false          # true: a client does not get its own messages back
//	  # echo = true                # instead of channel: send each message back to its sender
//	  max_message_bytes = "1MiB"   # larger messages close the session with 1009
//	  max_queue   = 1000           # messages waiting for the handler; more close with 1008
//	  compression = false          # permessage-deflate
//	  keepalive   = "30s"          # ping interval (0: none)
//	  keepalive_timeout = "10s"    # close when no pong arrives in time
//	  subprotocols = ["chat.v1"]   # accepted subprotocols, the client's first match is chosen
//	}
type WebSocket struct {
	Channel          string          `hcl:"channel,optional"`
	Echo             bool            `hcl:"echo,optional"`
	SkipSender       bool            `hcl:"skip_sender,optional"`
	MaxMessageBytes  config.Size     `hcl:"max_message_bytes,optional"`
	MaxQueue         int             `hcl:"max_queue,optional"`
	Compression      bool            `hcl:"compression,optional"`
	Keepalive        config.Duration `hcl:"keepalive,optional"`
	KeepaliveTimeout config.Duration `hcl:"keepalive_timeout,optional"`
	Subprotocols     []string        `hcl:"subprotocols,optional"`
}

var (
	_ config.Validator      = (*WebSocket)(nil)
	_ config.HandlerModule  = (*WebSocket)(nil)
	_ config.WebSocketTuner = (*WebSocket)(nil)
)

// Validate checks that exactly one of channel and echo is set.
func (w *WebSocket) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch {
	case w.Echo && w.Channel != "":
		diags = append(diags, ctx.Error("echo", "Conflicting modes", "set either channel or echo = true, not both"))
	case !w.Echo && w.Channel == "":
		diags = append(diags, ctx.Error("", "Missing channel", "set channel = \"name\" (or echo = true)"))
	case w.Channel != "":
		diags = append(diags, validateChannel(ctx, "channel", w.Channel)...)
	}
	if w.MaxMessageBytes <= 0 {
		diags = append(diags, ctx.Error("max_message_bytes", "Invalid size", "max_message_bytes must be positive"))
	}
	if w.MaxQueue < 1 {
		diags = append(diags, ctx.Error("max_queue", "Invalid queue size", "max_queue must be at least 1"))
	}
	if w.Keepalive < 0 || w.KeepaliveTimeout < 0 {
		diags = append(diags, ctx.Error("keepalive", "Invalid duration", "keepalive durations must not be negative"))
	}
	return diags
}

// WebSocketOptions tells the engine how to run this route's sessions.
func (w *WebSocket) WebSocketOptions() config.WebSocketOptions {
	return config.WebSocketOptions{Compression: w.Compression, MaxMessageBytes: int64(w.MaxMessageBytes), MaxQueue: w.MaxQueue}
}

// connectionIDs numbers the WebSocket connections of this process, for
// skip_sender.
var connectionIDs atomic.Uint64

// BuildApp returns the echo or relay app.
func (w *WebSocket) BuildApp(ctx *config.BuildContext) (pagi.App, error) {
	var broker pubsub.Broker
	var channel channelTemplate
	if !w.Echo {
		var err error
		if broker, err = brokerFrom(ctx); err != nil {
			return nil, err
		}
		if channel, err = newChannelTemplate(w.Channel); err != nil {
			return nil, err
		}
	}
	keepalive := &pagi.WebSocketKeepalive{Interval: w.Keepalive.D(), Timeout: w.KeepaliveTimeout.D()}
	protos := w.Subprotocols
	return func(c context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		switch s.Type {
		case pagi.ScopeWebSocket:
		case pagi.ScopeLifespan:
			return pagi.ErrUnsupportedScope
		default:
			return pagi.Respond(c, s, send, 426, pagi.Headers{{Name: "upgrade", Value: "websocket"},
				{Name: "content-type", Value: "text/plain; charset=utf-8"}}, []byte("this endpoint speaks WebSocket\n"))
		}
		if _, err := receive(c); err != nil { // websocket.connect
			return err
		}
		accept := func() error {
			if err := send(c, &pagi.WebSocketAccept{Subprotocol: chooseSubprotocol(protos, s.Subprotocols)}); err != nil {
				return err
			}
			if keepalive.Interval > 0 {
				return send(c, keepalive)
			}
			return nil
		}
		if broker == nil {
			if err := accept(); err != nil {
				return err
			}
			return echoLoop(c, receive, send)
		}
		name, err := channel.name(s)
		if err != nil {
			return pagi.Respond(c, s, send, 400, nil, []byte(err.Error()))
		}
		// Subscribe before accepting, so a client that sees the handshake
		// complete misses nothing published after it.
		sub, err := broker.Subscribe(c, name)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", name, err)
		}
		defer sub.Close()
		if err := accept(); err != nil {
			return err
		}
		return relay(c, broker, sub, name, w.SkipSender, s.ReceiveReady, receive, send)
	}, nil
}

// chooseSubprotocol returns the first client-offered subprotocol the
// handler accepts.
func chooseSubprotocol(accepted, offered []string) string {
	for _, o := range offered {
		if contains(accepted, o) {
			return o
		}
	}
	return ""
}

func echoLoop(ctx context.Context, receive pagi.Receive, send pagi.Send) error {
	for {
		ev, err := receive(ctx)
		if err != nil {
			return err
		}
		m, ok := ev.(*pagi.WebSocketReceive)
		if !ok {
			return nil // websocket.disconnect
		}
		if err := send(ctx, &pagi.WebSocketSend{Text: m.Text, Bytes: m.Bytes, Binary: m.Binary}); err != nil {
			return err
		}
	}
}

// relay publishes what the client sends and sends the client what the
// channel carries. With the scope's ReceiveReady one goroutine does both;
// without it, this goroutine receives and a second one sends.
func relay(ctx context.Context, broker pubsub.Broker, sub pubsub.Subscription, channel string,
	skipSender bool, ready <-chan struct{}, receive pagi.Receive, send pagi.Send) error {
	origin := "ws-" + strconv.FormatUint(connectionIDs.Add(1), 10)
	deliver := func(msg *pubsub.Message) error {
		if skipSender && msg.Origin == origin {
			return nil
		}
		out := &pagi.WebSocketSend{Bytes: msg.Data, Binary: true}
		if utf8.Valid(msg.Data) {
			out = &pagi.WebSocketSend{Text: string(msg.Data)}
		}
		return send(ctx, out)
	}
	// publish forwards one client event; it reports false at the end of
	// the session.
	publish := func(ev pagi.Event) bool {
		m, ok := ev.(*pagi.WebSocketReceive)
		if !ok {
			return false // websocket.disconnect
		}
		data := m.Bytes
		if !m.Binary {
			data = []byte(m.Text)
		}
		// At-most-once: while the backend is down the message is dropped.
		_ = broker.Publish(ctx, channel, pubsub.Message{Data: data, Origin: origin})
		return true
	}
	if ready != nil {
		msgs := sub.C()
		for {
			select {
			case <-ready:
				ev, err := receive(ctx)
				if err != nil {
					return err
				}
				if !publish(ev) {
					return nil
				}
			case msg, ok := <-msgs:
				if !ok {
					msgs = nil // the subscription ended; the client may still talk
					continue
				}
				if err := deliver(msg); err != nil {
					return err
				}
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sendDone := make(chan error, 1)
	go func() {
		for msg := range sub.C() {
			if err := deliver(msg); err != nil {
				sendDone <- err
				return
			}
		}
		sendDone <- nil
	}()
	for {
		ev, err := receive(ctx)
		if err != nil {
			return err
		}
		if !publish(ev) {
			cancel()
			sub.Close()
			<-sendDone
			return nil
		}
	}
}
