package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// siteAttrs are the attributes of a site block.
var siteAttrs = []string{"listeners", "hosts", "middleware"}

// site decodes and checks one site block and its routes.
func (l *loader) site(b *hclsyntax.Block) {
	l.enter(b)
	name := b.Labels[0]
	if first, dup := l.sites[name]; dup {
		l.duplicate(b, first.DefRange)
		return
	}
	s := &Site{Name: name, DefRange: b.DefRange()}
	l.sites[name] = s
	l.cfg.Sites = append(l.cfg.Sites, s)

	for _, a := range sortedAttrs(b.Body) {
		switch a.Name {
		case "listeners":
			l.siteListeners(s, a)
		case "hosts":
			l.siteHosts(s, a)
		case "middleware":
			s.Middleware = l.chainUses(a)
		default:
			l.errorAt(a.NameRange, fmt.Sprintf("unknown attribute %q in site %q%s", a.Name, name, didYouMean(a.Name, siteAttrs)),
				"a site has the attributes listeners, hosts and middleware, middleware blocks and route blocks")
		}
	}
	if _, ok := b.Body.Attributes["listeners"]; !ok {
		l.defaultListeners(s)
	}
	for _, sb := range b.Body.Blocks {
		if sb.Type == "route" {
			l.route(s, sb)
			continue
		}
		bt, ok := Lookup(sb.Type)
		switch {
		case !ok:
			l.unknownBlock(sb, []string{"route"}, KindMiddleware, KindHandler)
		case bt.Kind == KindHandler:
			l.errorAt(sb.TypeRange, fmt.Sprintf("handler %q must be inside a route", sb.Type),
				fmt.Sprintf("write route \"/\" { %s { ... } }", sb.Type))
		default:
			if u := l.module(sb, bt, nil); u != nil {
				s.Middleware = append(s.Middleware, u)
			}
		}
	}
}

// checkEmptySites warns about sites without routes.
func (l *loader) checkEmptySites() {
	for _, s := range l.cfg.Sites {
		if len(s.Routes) == 0 {
			l.warningAt(s.DefRange, fmt.Sprintf("site %q has no routes", s.Name), "every request to it will get 404 Not Found")
		}
	}
}

// listenerNames returns the names of the config's listeners, in order.
func (l *loader) listenerNames() []string {
	out := make([]string, 0, len(l.cfg.Listeners))
	for _, ln := range l.cfg.Listeners {
		out = append(out, ln.Name)
	}
	return out
}

// siteListeners decodes and checks a site's listeners attribute.
func (l *loader) siteListeners(s *Site, a *hclsyntax.Attribute) {
	var names []string
	if !l.evalInto(a, &names) {
		return
	}
	if len(names) == 0 {
		l.errorAt(a.Expr.Range(), fmt.Sprintf("site %q has an empty listeners list", s.Name), "name at least one listener")
		return
	}
	elems := elementExprs(a.Expr, len(names))
	known := l.listenerNames()
	seen := map[string]bool{}
	for i, n := range names {
		rng := elems[i].Range()
		switch {
		case seen[n]:
			l.errorAt(rng, fmt.Sprintf("listener %q is listed twice", n), "")
		case l.listeners[n] == nil:
			detail := "no listener is defined; define one with listener \"name\" { address = \"127.0.0.1:8080\" }"
			if len(known) > 0 {
				detail = "defined listeners: " + strings.Join(known, ", ")
			}
			l.errorAt(rng, fmt.Sprintf("unknown listener %q%s", n, didYouMean(n, known)), detail)
		default:
			s.Listeners = append(s.Listeners, n)
		}
		seen[n] = true
	}
}

// defaultListeners applies the default of a site without a listeners
// attribute: the config's only listener.
func (l *loader) defaultListeners(s *Site) {
	switch known := l.listenerNames(); len(known) {
	case 1:
		s.Listeners = known
	case 0:
		l.errorAt(s.DefRange, fmt.Sprintf("site %q has no listener to serve on", s.Name),
			`define one: listener "web" { address = "127.0.0.1:8080" }`)
	default:
		l.errorAt(s.DefRange, fmt.Sprintf("site %q must set listeners: the config has %d listeners", s.Name, len(known)),
			fmt.Sprintf("add listeners = [%q] (defined listeners: %s)", known[0], strings.Join(known, ", ")))
	}
}

// siteHosts decodes and checks a site's hosts attribute.
func (l *loader) siteHosts(s *Site, a *hclsyntax.Attribute) {
	var hosts []string
	if !l.evalInto(a, &hosts) {
		return
	}
	elems := elementExprs(a.Expr, len(hosts))
	seen := map[string]bool{}
	for i, h := range hosts {
		rng := elems[i].Range()
		if err := checkHost(h); err != nil {
			l.errorAt(rng, fmt.Sprintf("invalid host %q: %v", h, err), "write a host name like \"example.com\", optionally with a port")
			continue
		}
		if seen[h] {
			l.errorAt(rng, fmt.Sprintf("host %q is listed twice", h), "")
			continue
		}
		seen[h] = true
		s.Hosts = append(s.Hosts, h)
	}
}

// checkHost checks a host a site matches: a name or address, optionally
// with a port, usable as the host part of a ServeMux pattern.
func checkHost(h string) error {
	switch {
	case h == "":
		return fmt.Errorf("empty host")
	case strings.ContainsAny(h, "*"):
		return fmt.Errorf("wildcard hosts are not supported")
	case strings.ContainsAny(h, "/{} \t\r\n"):
		return fmt.Errorf("a host must not contain '/', '{', '}' or spaces")
	}
	return nil
}
