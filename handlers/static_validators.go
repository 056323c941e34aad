package handlers

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// staticValidatorCache remembers the validators (ETag and Last-Modified) of
// recently served representations. They are a pure function of the
// representation's size, modification time and sidecar suffix, so an entry
// found for the same three is always right, and a hit spares formatting
// the date (about a thousand instructions) and an allocation per request.
// It is direct-mapped and lock-free: each slot holds the last
// representation that hashed to it, so its size is bounded and a miss costs
// one small allocation more than no cache at all.
type staticValidatorCache [256]atomic.Pointer[staticValidators]

// staticValidators is one cache entry: the key and the two values.
type staticValidators struct {
	size    int64
	modNano int64
	suffix  string
	etag    string
	lastMod string
}

// get returns the validators for the key, computing and caching them on a
// miss. withETag says whether the handler sends ETags (fixed per handler,
// and so per cache).
func (c *staticValidatorCache) get(withETag bool, size int64, mod time.Time, suffix string) (etag, lastMod string) {
	if mod.IsZero() {
		return staticMakeValidators(withETag, size, mod, suffix)
	}
	ns := mod.UnixNano()
	h := uint64(size)*0x9e3779b97f4a7c15 ^ uint64(ns)
	slot := &c[(h^h>>29^h>>47)%uint64(len(c))]
	if v := slot.Load(); v != nil && v.size == size && v.modNano == ns && v.suffix == suffix {
		return v.etag, v.lastMod
	}
	etag, lastMod = staticMakeValidators(withETag, size, mod, suffix)
	slot.Store(&staticValidators{size: size, modNano: ns, suffix: suffix, etag: etag, lastMod: lastMod})
	return etag, lastMod
}

// staticMakeValidators returns the ETag (empty when withETag is false) and
// Last-Modified (empty without a modification time) of a representation,
// built in one allocation.
//
// The ETag is strong: "<size hex>-<mtime ns hex><suffix>". A file replaced
// with other content of the same size within the same nanosecond would
// keep its tag; that is the usual trade-off of metadata tags (nginx and
// Caddy make the same one), and a strong tag is what If-Match and If-Range
// need to be useful at all.
func staticMakeValidators(withETag bool, size int64, mod time.Time, suffix string) (etag, lastMod string) {
	var buf [96]byte
	b := buf[:0]
	if withETag {
		b = append(b, '"')
		b = strconv.AppendInt(b, size, 16)
		b = append(b, '-')
		b = strconv.AppendInt(b, mod.UnixNano(), 16)
		b = append(b, suffix...)
		b = append(b, '"')
	}
	n := len(b)
	if !mod.IsZero() {
		b = mod.UTC().AppendFormat(b, http.TimeFormat)
	}
	all := string(b)
	return all[:n], all[n:]
}
