package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// pubsubOptions are the pubsub attributes known beyond backend and url.
var pubsubOptions = []string{"pool_size", "dial_timeout", "read_timeout", "write_timeout", "replay", "queue_size", "max_message_bytes"}

// pubsub decodes and checks the pubsub block.
func (l *loader) pubsub(blocks []*hclsyntax.Block) {
	b := l.single(blocks)
	if b == nil {
		return
	}
	ps := &PubSub{Backend: "memory", Options: map[string]any{}, DefRange: b.DefRange()}
	l.cfg.PubSub = ps
	for _, nb := range b.Body.Blocks {
		l.errorAt(nb.TypeRange, fmt.Sprintf("unexpected block %q in the pubsub block", nb.Type), "the pubsub block holds only attributes")
	}
	backendRange, urlRange := b.DefRange(), b.DefRange()
	hasURL := false
	for _, a := range sortedAttrs(b.Body) {
		switch name := a.Name; {
		case name == "backend":
			backendRange = a.Expr.Range()
			if l.evalInto(a, &ps.Backend) && ps.Backend != "memory" && ps.Backend != "redis" {
				l.errorAt(backendRange, fmt.Sprintf("unknown pubsub backend %q%s", ps.Backend, didYouMean(ps.Backend, []string{"memory", "redis"})),
					`expected "memory" or "redis"`)
			}
		case name == "url":
			urlRange, hasURL = a.Expr.Range(), true
			l.evalInto(a, &ps.URL)
		case name == "pool_size" || name == "queue_size" || name == "replay":
			var n int
			if l.evalInto(a, &n) {
				lowest := 1
				if name == "replay" {
					lowest = 0
				}
				if n < lowest {
					l.errorAt(a.Expr.Range(), fmt.Sprintf("%s must be at least %d", name, lowest), fmt.Sprintf("got %d", n))
				}
				ps.Options[name] = n
			}
		case name == "max_message_bytes":
			var sz Size
			if l.evalInto(a, &sz) {
				if sz < 1 {
					l.errorAt(a.Expr.Range(), "max_message_bytes must be positive", "")
				}
				ps.Options[name] = int(sz)
			}
		case name == "dial_timeout" || name == "read_timeout" || name == "write_timeout":
			var d Duration
			if l.evalInto(a, &d) {
				ps.Options[name] = d.D()
			}
		default:
			l.errorAt(a.NameRange, fmt.Sprintf("unknown pubsub option %q%s", name, didYouMean(name, append([]string{"backend", "url"}, pubsubOptions...))),
				"known options: backend, url, "+strings.Join(pubsubOptions, ", "))
		}
	}
	switch ps.Backend {
	case "redis":
		if !hasURL {
			l.errorAt(b.DefRange(), "the redis backend needs a url", `add url = "redis://host:6379/0" (or env("REDIS_URL"))`)
		} else if ps.URL != "" || !l.diagsAt(urlRange) {
			if err := checkRedisURL(ps.URL); err != nil {
				l.errorAt(urlRange, fmt.Sprintf("invalid redis url: %v", err), "expected redis://[user:password@]host[:port][/db], rediss://... or unix:///path/to/socket")
			}
		}
	case "memory":
		if hasURL {
			l.warningAt(urlRange, "url is ignored by the memory backend", `set backend = "redis" to use it`)
		}
		if w := l.cfg.Server.Workers; w > 1 {
			l.warningAt(backendRange, fmt.Sprintf("with %d workers, memory pubsub messages do not cross worker processes; use backend = \"redis\"", w), "")
		}
	}
}

func isPubSubOption(name string) bool {
	for _, o := range pubsubOptions {
		if o == name {
			return true
		}
	}
	return false
}

// diagsAt reports whether an error was already reported at rng.
func (l *loader) diagsAt(rng hcl.Range) bool {
	for _, d := range l.diags {
		if d.Severity == hcl.DiagError && d.Subject != nil && d.Subject.Filename == rng.Filename && d.Subject.Start.Byte >= rng.Start.Byte && d.Subject.End.Byte <= rng.End.Byte {
			return true
		}
	}
	return false
}

// checkRedisURL checks the form of a Redis URL without connecting.
func checkRedisURL(s string) error {
	if s == "" {
		return fmt.Errorf("the url is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse errors quote the URL, which may hold a password.
		if ue, ok := err.(*url.Error); ok {
			return fmt.Errorf("cannot parse: %v", ue.Err)
		}
		return fmt.Errorf("cannot parse the url")
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Opaque != "" {
			return fmt.Errorf("write %s://host:port", u.Scheme)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("port %q is not a number from 1 to 65535", p)
			}
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				return fmt.Errorf("database %q is not a number", db)
			}
		}
	case "unix":
		if u.Path == "" {
			return fmt.Errorf("a unix url needs a socket path: unix:///path/to/redis.sock")
		}
	case "":
		return fmt.Errorf("missing scheme redis://, rediss:// or unix://")
	default:
		return fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	return nil
}
