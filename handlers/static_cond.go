package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pagihq/pagi"
)

// staticPreconditions evaluates the conditional headers of a GET or HEAD
// request in the order of RFC 9110 §13.2.2, for a representation whose
// ETag is etag ("" when there is none) and whose modification time is mod
// (zero when unknown). It returns 0 when the request proceeds,
// http.StatusNotModified or http.StatusPreconditionFailed.
//
//  1. If-Match: fails (412) unless "*" or a strong match of etag.
//  2. Else If-Unmodified-Since: fails (412) when mod is later.
//  3. If-None-Match: 304 when "*" or a weak match of etag.
//  4. Else If-Modified-Since: 304 when mod is not later.
//
// Dates compare at one-second precision, the precision of HTTP dates;
// unparsable dates are ignored, as the RFC requires.
func staticPreconditions(h pagi.Headers, etag string, mod time.Time) int {
	if im, ok := staticJoinedHeader(h, "if-match"); ok {
		if !staticETagListMatches(im, etag, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius, ok := h.Get("if-unmodified-since"); ok && !mod.IsZero() {
		if t, err := http.ParseTime(ius); err == nil && mod.Truncate(time.Second).After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm, ok := staticJoinedHeader(h, "if-none-match"); ok {
		if staticETagListMatches(inm, etag, false) {
			return http.StatusNotModified
		}
	} else if ims, ok := h.Get("if-modified-since"); ok && !mod.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !mod.Truncate(time.Second).After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// staticIfRange reports whether a Range request may be served as ranges:
// true without If-Range, or when If-Range holds the current ETag (strong
// comparison; a weak tag never matches) or exactly the current
// Last-Modified date. Otherwise the whole file is sent (RFC 9110 §13.1.5).
func staticIfRange(h pagi.Headers, etag string, mod time.Time) bool {
	v, ok := h.Get("if-range")
	if !ok {
		return true
	}
	v = strings.TrimSpace(v)
	switch {
	case strings.HasPrefix(v, "W/"):
		return false
	case strings.HasPrefix(v, `"`):
		return etag != "" && v == etag
	}
	if mod.IsZero() {
		return false
	}
	t, err := http.ParseTime(v)
	return err == nil && mod.Truncate(time.Second).Equal(t)
}

// staticETagListMatches reports whether the If-Match / If-None-Match list
// holds "*" (and a current representation exists, which it does here) or
// an entity tag matching etag: strongly (both tags strong and equal) when
// strong is set, weakly (equal once W/ is dropped) otherwise. A malformed
// list matches nothing.
func staticETagListMatches(list, etag string, strong bool) bool {
	list = strings.TrimSpace(list)
	if list == "*" {
		return true
	}
	if etag == "" {
		return false
	}
	etagWeak := strings.HasPrefix(etag, "W/")
	etagOpaque := strings.TrimPrefix(etag, "W/")
	for list != "" {
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			break
		}
		if list[0] == '*' {
			return true
		}
		weak := false
		if strings.HasPrefix(list, "W/") {
			weak = true
			list = list[2:]
		}
		if list == "" || list[0] != '"' {
			return false
		}
		end := strings.IndexByte(list[1:], '"')
		if end < 0 {
			return false
		}
		tag := list[:end+2]
		list = list[end+2:]
		if tag == etagOpaque && (!strong || (!weak && !etagWeak)) {
			return true
		}
	}
	return false
}

// staticAcceptsEncoding reports whether the Accept-Encoding value ae
// accepts the content coding (RFC 9110 §12.5.3): the coding listed with a
// q-value above 0, or not listed while "*" is, with q above 0. "x-gzip"
// counts as gzip. A q-value that does not parse counts as 0.
func staticAcceptsEncoding(ae, coding string) bool {
	star := false
	for elem := range strings.SplitSeq(ae, ",") {
		token, params, _ := strings.Cut(elem, ";")
		token = strings.TrimSpace(token)
		q := staticQValue(params)
		switch {
		case strings.EqualFold(token, coding),
			coding == "gzip" && strings.EqualFold(token, "x-gzip"):
			return q
		case token == "*":
			star = q
		}
	}
	return star
}

// staticQValue reports whether the parameters after a list element give it
// a q-value above zero (true when there is no q parameter).
func staticQValue(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, value, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return err == nil && q > 0
	}
	return true
}
