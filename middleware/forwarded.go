package middleware

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "forwarded", Kind: config.KindMiddleware,
		Doc: "takes the client address, scheme and host from the Forwarded / X-Forwarded-* headers of trusted proxies",
		New: func() any {
			return &Forwarded{
				TrustedProxies: []string{"127.0.0.1/32", "::1/128"},
				Headers:        []string{"forwarded", "x-forwarded-*"},
			}
		},
	})
}

// Forwarded is the forwarded middleware: behind a reverse proxy it makes
// the scope describe the original client rather than the proxy.
//
//	forwarded {
//	  trusted_proxies = ["10.0.0.0/8", "private_ranges"]  # CIDRs, IPs or private_ranges
//	  headers         = ["forwarded", "x-forwarded-*"]     # which headers to believe
//	  trust_unix      = false                              # trust peers on Unix sockets
//	}
//
// Only when the direct peer is a trusted proxy are the headers read; from
// anyone else they are ignored. The client is found by walking
// X-Forwarded-For (or the for= parameters of Forwarded) from the right,
// skipping trusted proxies: it is the right-most address that is not one.
// X-Forwarded-Proto / proto= sets the scheme, X-Forwarded-Host / host=
// replaces the host header, X-Forwarded-Port sets the server port. The
// peer's own address stays in scope.Values["pagi.original_client"].
type Forwarded struct {
	// TrustedProxies lists the proxies whose headers are believed: CIDRs,
	// single IPs, or the keyword private_ranges (10/8, 172.16/12,
	// 192.168/16, 127/8, ::1/128, fc00::/7, fe80::/10).
	TrustedProxies []string `hcl:"trusted_proxies,optional"`
	// Headers lists the headers to read: forwarded (RFC 7239),
	// x-forwarded-for, x-forwarded-proto, x-forwarded-host,
	// x-forwarded-port, or x-forwarded-* for those four.
	Headers []string `hcl:"headers,optional"`
	// TrustUnix makes peers on Unix sockets (which have no address)
	// trusted proxies.
	TrustUnix bool `hcl:"trust_unix,optional"`
}

var (
	_ config.Validator        = (*Forwarded)(nil)
	_ config.MiddlewareModule = (*Forwarded)(nil)
)

// Bits of fwdConfig.use: which headers are believed.
const (
	fwdUseForwarded = 1 << iota
	fwdUseFor
	fwdUseProto
	fwdUseHost
	fwdUsePort
	fwdUseXAll = fwdUseFor | fwdUseProto | fwdUseHost | fwdUsePort
)

// fwdHeaderBits maps the names allowed in headers to their bits.
var fwdHeaderBits = map[string]int{
	"forwarded":         fwdUseForwarded,
	"x-forwarded-for":   fwdUseFor,
	"x-forwarded-proto": fwdUseProto,
	"x-forwarded-host":  fwdUseHost,
	"x-forwarded-port":  fwdUsePort,
	"x-forwarded-*":     fwdUseXAll,
}

// fwdPrefixes parses trusted_proxies, reporting each bad entry through bad.
func fwdPrefixes(list []string, bad func(i int, err error)) []netip.Prefix {
	var out []netip.Prefix
	for i, e := range list {
		ps, err := config.ParseTrusted(e)
		if err != nil {
			bad(i, err)
			continue
		}
		out = append(out, ps...)
	}
	return out
}

// Validate checks the proxies and header names.
func (f *Forwarded) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	l := setaLoc{ctx: ctx}
	fwdPrefixes(f.TrustedProxies, func(i int, err error) {
		diags = append(diags, setaError(l.elem("trusted_proxies", i), "Invalid trusted proxy",
			err.Error()))
	})
	for i, h := range f.Headers {
		if _, ok := fwdHeaderBits[strings.ToLower(h)]; !ok {
			diags = append(diags, setaError(l.elem("headers", i), "Unknown forwarding header",
				fmt.Sprintf("%q is not one of forwarded, x-forwarded-for, x-forwarded-proto, x-forwarded-host, x-forwarded-port, x-forwarded-*", h)))
		}
	}
	if len(f.TrustedProxies) == 0 && !f.TrustUnix {
		diags = append(diags, setaWarning(l.attr("trusted_proxies"), "No trusted proxy",
			"with no trusted proxy (and trust_unix = false) forwarded changes nothing"))
	}
	return diags
}

// fwdConfig is the built form of a forwarded block.
type fwdConfig struct {
	trusted   []netip.Prefix
	use       int
	trustUnix bool
}

// BuildMiddleware parses the trusted ranges once and returns the
// middleware.
func (f *Forwarded) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	var bad error
	c := &fwdConfig{trustUnix: f.TrustUnix}
	c.trusted = fwdPrefixes(f.TrustedProxies, func(i int, err error) {
		bad = fmt.Errorf("trusted_proxies: %q: %w", f.TrustedProxies[i], err)
	})
	if bad != nil {
		return nil, bad
	}
	for _, h := range f.Headers {
		c.use |= fwdHeaderBits[strings.ToLower(h)]
	}
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan || !c.peerTrusted(s.Client) {
				return next(ctx, s, receive, send)
			}
			if s2 := c.apply(s); s2 != nil {
				s = s2
			}
			return next(ctx, s, receive, send)
		}
	}, nil
}

// peerTrusted reports whether the direct peer is a trusted proxy.
func (c *fwdConfig) peerTrusted(client *pagi.Addr) bool {
	if client == nil || client.IsUnix() {
		return c.trustUnix
	}
	a, err := netip.ParseAddr(client.Host)
	if err != nil {
		return false
	}
	return c.isTrusted(a)
}

// isTrusted reports whether a is in a trusted range (zones ignored:
// netip prefixes never contain a zoned address).
func (c *fwdConfig) isTrusted(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fwdResult is what the headers of one request say.
type fwdResult struct {
	client     netip.Addr
	clientPort int
	scheme     string // http or https, "" when not said
	host       string
	port       int
}

// apply returns the changed scope, or nil when the headers change nothing.
func (c *fwdConfig) apply(s *pagi.Scope) *pagi.Scope {
	var r fwdResult
	switch {
	case c.use&fwdUseXAll != 0 && c.hasX(s.Headers):
		c.fromX(s.Headers, &r)
	case c.use&fwdUseForwarded != 0 && s.Headers.Has("forwarded"):
		c.fromForwarded(s.Headers, &r)
	default:
		return nil
	}
	if !r.client.IsValid() && r.scheme == "" && r.host == "" && r.port == 0 {
		return nil
	}
	s2 := s.Clone()
	s2.SetValue("pagi.original_client", s.Client)
	if r.client.IsValid() {
		s2.Client = &pagi.Addr{Host: r.client.String(), Port: r.clientPort}
	}
	if r.scheme != "" {
		switch {
		case s.Type != pagi.ScopeWebSocket:
			s2.Scheme = r.scheme
		case r.scheme == "https":
			s2.Scheme = "wss"
		default:
			s2.Scheme = "ws"
		}
	}
	if r.host != "" {
		s2.Headers = s.Headers.Clone().Set("host", r.host)
	}
	if r.port > 0 {
		srv := &pagi.Addr{Port: r.port}
		if s.Server != nil {
			srv.Host = s.Server.Host
		}
		s2.Server = srv
	}
	return s2
}

// hasX reports whether one of the believed X-Forwarded-* headers is there.
func (c *fwdConfig) hasX(h pagi.Headers) bool {
	for i := range h {
		switch h[i].Name {
		case "x-forwarded-for":
			if c.use&fwdUseFor != 0 {
				return true
			}
		case "x-forwarded-proto":
			if c.use&fwdUseProto != 0 {
				return true
			}
		case "x-forwarded-host":
			if c.use&fwdUseHost != 0 {
				return true
			}
		case "x-forwarded-port":
			if c.use&fwdUsePort != 0 {
				return true
			}
		}
	}
	return false
}

// fromX reads the X-Forwarded-* family. hops counts the X-Forwarded-For
// entries read, right to left, up to the one that ended the walk; the
// other headers, when they are lists too, are read at the same distance
// from the right (or at their left end when shorter).
func (c *fwdConfig) fromX(h pagi.Headers, r *fwdResult) {
	hops := 1
	if c.use&fwdUseFor != 0 {
		it := fwdIter{h: h, name: "x-forwarded-for", i: len(h)}
		n := 0
		for {
			entry, ok := it.next()
			if !ok {
				break
			}
			n++
			a, port, ok := fwdParseNode(entry)
			if !ok {
				break
			}
			r.client, r.clientPort = a, port
			if !c.isTrusted(a) {
				break
			}
		}
		hops = max(n, 1)
	}
	if c.use&fwdUseProto != 0 {
		if v, ok := fwdPick(h, "x-forwarded-proto", hops); ok {
			r.scheme = fwdScheme(v)
		}
	}
	if c.use&fwdUseHost != 0 {
		if v, ok := fwdPick(h, "x-forwarded-host", hops); ok && fwdValidHost(v) {
			r.host = v
		}
	}
	if c.use&fwdUsePort != 0 {
		if v, ok := fwdPick(h, "x-forwarded-port", hops); ok {
			r.port = fwdPort(v)
		}
	}
}

// fromForwarded reads RFC 7239 Forwarded headers. The element that ends
// the walk (an untrusted or unreadable for=, or the left-most element) was
// written by a trusted proxy, so its proto= and host= are believed.
func (c *fwdConfig) fromForwarded(h pagi.Headers, r *fwdResult) {
	var ring fwdRing
	for i := range h {
		if h[i].Name == "forwarded" {
			fwdParseElements(h[i].Value, &ring)
		}
	}
	var stop *fwdElem
	for k := 0; ; k++ {
		e, ok := ring.fromRight(k)
		if !ok || e.bad {
			break
		}
		stop = e
		a, port, ok := fwdParseNode(e.forV)
		if !ok {
			break
		}
		r.client, r.clientPort = a, port
		if !c.isTrusted(a) {
			break
		}
	}
	if stop == nil {
		return
	}
	if stop.proto != "" {
		r.scheme = fwdScheme(stop.proto)
	}
	if stop.host != "" && fwdValidHost(stop.host) {
		r.host = stop.host
	}
}

// fwdMaxElems bounds the Forwarded elements kept (the right-most ones): no
// real chain of proxies is that long, and a hostile header cannot make the
// parser allocate.
const fwdMaxElems = 32

// fwdRing keeps the last fwdMaxElems elements of the Forwarded fields.
type fwdRing struct {
	e [fwdMaxElems]fwdElem
	n int // elements pushed, possibly more than kept
}

func (r *fwdRing) push(e fwdElem) {
	r.e[r.n%fwdMaxElems] = e
	r.n++
}

// fromRight returns the element k places from the right end, and false
// past the left end or past what was kept.
func (r *fwdRing) fromRight(k int) (*fwdElem, bool) {
	if k >= r.n || k >= fwdMaxElems {
		return nil, false
	}
	return &r.e[(r.n-1-k)%fwdMaxElems], true
}

// fwdIter walks the comma-separated entries of every field called name,
// from the right-most entry of the last field to the left-most of the
// first, without allocating.
type fwdIter struct {
	h       pagi.Headers
	name    string
	i       int    // index of the current field
	cur     string // what is left of it, entries not read yet
	pending bool   // cur still holds an entry (possibly empty)
}

func (it *fwdIter) next() (string, bool) {
	for !it.pending {
		for it.i--; it.i >= 0 && it.h[it.i].Name != it.name; it.i-- {
		}
		if it.i < 0 {
			return "", false
		}
		it.cur, it.pending = it.h[it.i].Value, true
	}
	j := strings.LastIndexByte(it.cur, ',')
	entry := it.cur[j+1:]
	if j < 0 {
		it.cur, it.pending = "", false
	} else {
		it.cur = it.cur[:j]
	}
	return strings.TrimSpace(entry), true
}

// fwdPick returns the entry of the list header name that is hops entries
// from the right, or its left-most entry when the list is shorter.
func fwdPick(h pagi.Headers, name string, hops int) (string, bool) {
	it := fwdIter{h: h, name: name, i: len(h)}
	var last string
	found := false
	for n := 0; n < hops; n++ {
		e, ok := it.next()
		if !ok {
			break
		}
		last, found = e, true
	}
	return last, found
}

// fwdParseNode parses one X-Forwarded-For entry or for= value: an IPv4
// address, a bare IPv6 address, either with a port (IPv6 in brackets). A
// port that is not a number (RFC 7239's obfuscated "_port") is read as 0;
// an address that is not an IP ("unknown", "_hidden", garbage) is not ok.
func fwdParseNode(v string) (netip.Addr, int, bool) {
	host, port := v, ""
	switch {
	case strings.HasPrefix(v, "["):
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return netip.Addr{}, 0, false
		}
		host, rest := v[1:end], v[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return netip.Addr{}, 0, false
			}
			port = rest[1:]
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return netip.Addr{}, 0, false
		}
		return a.Unmap(), fwdPort(port), true
	case strings.Count(v, ":") == 1:
		host, port, _ = strings.Cut(v, ":")
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	return a.Unmap(), fwdPort(port), true
}

// fwdPort parses a port number, returning 0 for anything else.
func fwdPort(v string) int {
	if v == "" || len(v) > 5 {
		return 0
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0
		}
	}
	p, _ := strconv.Atoi(v)
	if p > 65535 {
		return 0
	}
	return p
}

// fwdScheme maps a proto value to http or https ("" for anything else).
func fwdScheme(v string) string {
	switch {
	case strings.EqualFold(v, "https"), strings.EqualFold(v, "wss"):
		return "https"
	case strings.EqualFold(v, "http"), strings.EqualFold(v, "ws"):
		return "http"
	}
	return ""
}

// fwdValidHost accepts host names, IPv4 and bracketed IPv6 addresses with an
// optional port: nothing that could smuggle a path or a user into a URL
// built from the host.
func fwdValidHost(v string) bool {
	if v == "" || len(v) > 255 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']':
		default:
			return false
		}
	}
	return true
}

// fwdElem is one element of a Forwarded header.
type fwdElem struct {
	forV, proto, host string
	bad               bool // malformed: nothing in it is used
}

// fwdParseElements pushes the elements of one Forwarded field value to
// out. Elements are separated by commas and hold ;-separated name=value
// pairs whose values are tokens or quoted strings. A malformed element is
// kept, marked bad, and parsing resumes at the next comma.
func fwdParseElements(v string, out *fwdRing) {
	var cur fwdElem
	seen := 0 // bits: 1 for, 2 proto, 4 host
	i := 0
	fail := func() {
		cur.bad = true
		// Skip to the next comma outside a quoted string.
		inQuote := false
		for ; i < len(v); i++ {
			switch c := v[i]; {
			case inQuote && c == '\\':
				i++
			case c == '"':
				inQuote = !inQuote
			case !inQuote && c == ',':
				return
			}
		}
	}
	for {
		i = fwdSkipSpace(v, i)
		if i >= len(v) {
			if seen != 0 || cur.bad {
				out.push(cur)
			}
			return
		}
		if v[i] == ',' { // empty element or end of one
			i++
			if seen != 0 || cur.bad {
				out.push(cur)
			}
			cur, seen = fwdElem{}, 0
			continue
		}
		if v[i] == ';' {
			i++
			continue
		}
		start := i
		for i < len(v) && v[i] != '=' && v[i] != ';' && v[i] != ',' && v[i] != ' ' && v[i] != '\t' {
			i++
		}
		name := v[start:i]
		if i >= len(v) || v[i] != '=' || !setaIsToken(name) {
			fail()
			continue
		}
		i++ // '='
		var val string
		if i < len(v) && v[i] == '"' {
			var ok bool
			val, i, ok = fwdQuoted(v, i)
			if !ok {
				fail()
				continue
			}
		} else {
			start = i
			for i < len(v) && v[i] != ';' && v[i] != ',' && v[i] != ' ' && v[i] != '\t' {
				i++
			}
			val = v[start:i]
			if !setaIsToken(val) {
				fail()
				continue
			}
		}
		var bit int
		var dst *string
		switch {
		case strings.EqualFold(name, "for"):
			bit, dst = 1, &cur.forV
		case strings.EqualFold(name, "proto"):
			bit, dst = 2, &cur.proto
		case strings.EqualFold(name, "host"):
			bit, dst = 4, &cur.host
		default:
			bit = 8 // by= and extensions: read and ignored
		}
		if seen&bit != 0 && bit != 8 {
			fail() // a parameter given twice makes the element invalid
			continue
		}
		seen |= bit
		if dst != nil {
			*dst = val
		}
	}
}

// fwdQuoted reads the quoted string starting at v[i] == '"'. It returns the
// unescaped content and the index after the closing quote.
func fwdQuoted(v string, i int) (string, int, bool) {
	start := i + 1
	escaped := false
	for j := start; j < len(v); j++ {
		switch v[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			s := v[start:j]
			if escaped {
				var b strings.Builder
				for k := 0; k < len(s); k++ {
					if s[k] == '\\' && k+1 < len(s) {
						k++
					}
					b.WriteByte(s[k])
				}
				s = b.String()
			}
			return s, j + 1, true
		}
	}
	return "", len(v), false
}

func fwdSkipSpace(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}
