package engine

import (
	"net/http"
	"slices"
	"strings"

	"github.com/pagihq/pagi"
)

// scopeTypeOf chooses the scope type of a request by the spec's rules, in
// order: a WebSocket upgrade (HTTP/1.1 Upgrade handshake, or HTTP/2 extended
// CONNECT with :protocol websocket), then any Accept value naming
// text/event-stream, then http.
func scopeTypeOf(r *http.Request) pagi.ScopeType {
	if r.ProtoMajor == 1 {
		if len(r.Header["Upgrade"]) > 0 && len(r.Header["Sec-Websocket-Key"]) > 0 &&
			headerHasToken(r.Header["Upgrade"], "websocket") && headerHasToken(r.Header["Connection"], "upgrade") {
			return pagi.ScopeWebSocket
		}
	} else if r.Method == http.MethodConnect && r.Proto == "websocket" {
		return pagi.ScopeWebSocket
	}
	for _, v := range r.Header["Accept"] {
		if strings.Contains(v, "text/event-stream") {
			return pagi.ScopeSSE
		}
	}
	return pagi.ScopeHTTP
}

// headerHasToken reports whether a comma-separated header contains token
// (ASCII case-insensitive).
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// lowerNames maps canonical names of common request headers to their
// lower-case form, so building a scope's headers allocates no names for
// them.
var lowerNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Encoding", "Content-Length", "Content-Type",
		"Cookie", "Date", "Dnt", "Expect", "Forwarded", "From", "If-Match", "If-Modified-Since",
		"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Last-Event-Id",
		"Origin", "Pragma", "Priority", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
		"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
		"Sec-Fetch-User", "Sec-Websocket-Extensions", "Sec-Websocket-Key",
		"Sec-Websocket-Protocol", "Sec-Websocket-Version", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto",
		"X-Real-Ip", "X-Request-Id", "X-Requested-With",
	} {
		m[n] = strings.ToLower(n)
	}
	return m
}()

func lowerName(canonical string) string {
	if l, ok := lowerNames[canonical]; ok {
		return l
	}
	return strings.ToLower(canonical)
}

// appendHeaders appends r's headers to dst as PAGI headers: lower-case
// names sorted by name (net/http keeps no order between different names),
// values of one name in arrival order, Cookie headers joined with "; ", and
// the Host header (which net/http moves to r.Host) included.
func appendHeaders(dst pagi.Headers, r *http.Request) pagi.Headers {
	if r.Host != "" {
		dst = append(dst, pagi.Header{Name: "host", Value: r.Host})
	}
	for name, values := range r.Header {
		lname := lowerName(name)
		if lname == "cookie" && len(values) > 1 {
			dst = append(dst, pagi.Header{Name: lname, Value: strings.Join(values, "; ")})
			continue
		}
		for _, v := range values {
			dst = append(dst, pagi.Header{Name: lname, Value: v})
		}
	}
	sortByName(dst)
	return dst
}

// sortByName sorts h by name, keeping the order of fields of one name.
// Request heads are short, so an insertion sort with plain string
// comparisons does it in a fraction of slices.SortStableFunc's time (no
// comparison function called through a pointer); long ones go to the
// library's stable sort.
func sortByName(h pagi.Headers) {
	if len(h) > 24 {
		slices.SortStableFunc(h, func(a, b pagi.Header) int { return strings.Compare(a.Name, b.Name) })
		return
	}
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && h[j].Name < h[j-1].Name; j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
}

// rawPathOf returns the request target's path as the client sent it.
func rawPathOf(r *http.Request) string {
	uri := r.RequestURI
	if strings.HasPrefix(uri, "/") {
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			return uri[:i]
		}
		return uri
	}
	return r.URL.EscapedPath()
}

// splitMount splits a decoded path at the end of its first segs segments:
// splitMount("/files/css/a.css", 1) is ("/files", "/css/a.css").
func splitMount(path string, segs int) (root, rest string) {
	i := 0
	for n := 0; n < segs; n++ {
		j := strings.IndexByte(path[i+1:], '/')
		if j < 0 {
			return path, "/"
		}
		i += j + 1
	}
	return path[:i], path[i:]
}

// subprotocolsOf splits Sec-WebSocket-Protocol on commas, trimmed.
func subprotocolsOf(r *http.Request) []string {
	var out []string
	for _, v := range r.Header["Sec-Websocket-Protocol"] {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// canonicalNames maps lower-case names of common response headers to
// net/http's canonical form, so building a response does no case
// conversion for them.
var canonicalNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
		"Access-Control-Max-Age", "Age", "Allow", "Cache-Control", "Connection", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Location", "Content-Range",
		"Content-Security-Policy", "Content-Type", "Date", "Etag", "Expires", "Last-Modified", "Link",
		"Location", "Referrer-Policy", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security",
		"Trailer", "Transfer-Encoding", "Vary", "Www-Authenticate", "X-Content-Type-Options",
		"X-Frame-Options", "X-Request-Id",
	} {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// canonicalKey returns the net/http header map key for a PAGI header name.
func canonicalKey(name string) string {
	if c, ok := canonicalNames[name]; ok {
		return c
	}
	return http.CanonicalHeaderKey(name)
}
