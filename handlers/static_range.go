package handlers

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/pagihq/pagi"
)

// staticMaxRanges is the most ranges one request may ask for; a Range
// header with more is ignored and the whole file is sent.
const staticMaxRanges = 16

// staticByteRange is one satisfiable byte range: length bytes from start.
type staticByteRange struct {
	start, length int64
}

// contentRange returns the Content-Range value of r in a file of size
// bytes: "bytes first-last/size".
func (r staticByteRange) contentRange(size int64) string {
	var buf [72]byte
	b := append(buf[:0], "bytes "...)
	b = strconv.AppendInt(b, r.start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.start+r.length-1, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	return string(b)
}

// staticRangeResult is the outcome of parsing a Range header.
type staticRangeResult int

const (
	// staticRangeIgnore: serve the whole file (no usable Range: bad
	// syntax, another unit, too many ranges, or ranges adding up to more
	// than the file).
	staticRangeIgnore staticRangeResult = iota
	// staticRangeOK: serve the ranges returned.
	staticRangeOK
	// staticRangeUnsatisfiable: answer 416.
	staticRangeUnsatisfiable
)

// staticParseRange parses a Range header (RFC 9110 §14.2) for a file of
// size bytes. Ranges that start beyond the end are dropped; when none is
// left the result is staticRangeUnsatisfiable. Ends beyond the file are
// clipped; a suffix range longer than the file means the whole file.
// Malformed headers are ignored rather than refused, as the RFC allows.
// An empty file ignores ranges (it is sent whole, as 200).
func staticParseRange(h string, size int64) ([]staticByteRange, staticRangeResult) {
	unit, spec, ok := strings.Cut(h, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || size <= 0 {
		return nil, staticRangeIgnore
	}
	var ranges []staticByteRange
	count := 0
	var total int64
	for elem := range strings.SplitSeq(spec, ",") {
		elem = strings.Trim(elem, " \t")
		if elem == "" {
			continue // empty list elements are allowed
		}
		if count++; count > staticMaxRanges {
			return nil, staticRangeIgnore
		}
		first, last, ok := strings.Cut(elem, "-")
		if !ok {
			return nil, staticRangeIgnore
		}
		first, last = strings.TrimRight(first, " \t"), strings.TrimLeft(last, " \t")
		var r staticByteRange
		if first == "" {
			n, ok := staticParseDigits(last)
			if !ok {
				return nil, staticRangeIgnore
			}
			if n == 0 {
				continue // "-0" selects nothing
			}
			n = min(n, size)
			r = staticByteRange{start: size - n, length: n}
		} else {
			start, ok := staticParseDigits(first)
			if !ok {
				return nil, staticRangeIgnore
			}
			end := int64(math.MaxInt64)
			if last != "" {
				if end, ok = staticParseDigits(last); !ok || end < start {
					return nil, staticRangeIgnore
				}
			}
			if start >= size {
				continue // unsatisfiable on its own
			}
			end = min(end, size-1)
			r = staticByteRange{start: start, length: end - start + 1}
		}
		ranges = append(ranges, r)
		total += r.length
	}
	switch {
	case count == 0:
		return nil, staticRangeIgnore
	case len(ranges) == 0:
		return nil, staticRangeUnsatisfiable
	case len(ranges) > 1 && total > size:
		// Overlapping or repeated ranges asking for more than the file:
		// the whole file is cheaper for everyone.
		return nil, staticRangeIgnore
	}
	return ranges, staticRangeOK
}

// staticParseDigits parses a non-empty run of ASCII digits. Values too big
// for an int64 saturate at math.MaxInt64 (they are past any file's end).
func staticParseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// staticMultipartChunk is the largest body event of a multipart/byteranges
// response.
const staticMultipartChunk = 64 << 10

// staticSendMultipart sends a 206 multipart/byteranges response for several
// ranges of f. Its exact length is computed first so the response carries a
// Content-Length; the parts are then read with ReadAt and sent as body
// chunks. h holds the validator headers already chosen.
func staticSendMultipart(ctx context.Context, send pagi.Send, r *staticFileResponse, h pagi.Headers,
	ctype string, f *os.File, size int64, ranges []staticByteRange) error {
	boundary := rand.Text()
	heads := make([]string, len(ranges))
	total := int64(0)
	for i, br := range ranges {
		lead := "\r\n--"
		if i == 0 {
			lead = "--"
		}
		heads[i] = lead + boundary + "\r\nContent-Range: " + br.contentRange(size) +
			"\r\nContent-Type: " + ctype + "\r\n\r\n"
		total += int64(len(heads[i])) + br.length
	}
	closing := "\r\n--" + boundary + "--\r\n"
	total += int64(len(closing))

	h = append(h,
		pagi.Header{Name: stHContentType, Value: "multipart/byteranges; boundary=" + boundary},
		pagi.Header{Name: stHAcceptRanges, Value: stVBytes},
		pagi.Header{Name: stHContentLength, Value: strconv.FormatInt(total, 10)},
	)
	r.start = pagi.HTTPResponseStart{Status: http.StatusPartialContent, Headers: h}
	if err := send(ctx, &r.start); err != nil {
		return err
	}
	buf := make([]byte, 0, staticMultipartChunk)
	for i, br := range ranges {
		chunk := append(buf[:0], heads[i]...)
		off, left := br.start, br.length
		for left > 0 {
			n := min(int64(cap(chunk)-len(chunk)), left)
			if n == 0 {
				r.body = pagi.HTTPResponseBody{Body: chunk, More: true}
				if err := send(ctx, &r.body); err != nil {
					return err
				}
				chunk = buf[:0]
				continue
			}
			got, err := f.ReadAt(chunk[len(chunk):len(chunk)+int(n)], off)
			if int64(got) < n {
				return fmt.Errorf("static: reading a range: %w", err)
			}
			chunk = chunk[:len(chunk)+int(n)]
			off += n
			left -= n
			r.body = pagi.HTTPResponseBody{Body: chunk, More: true}
			if err := send(ctx, &r.body); err != nil {
				return err
			}
			chunk = buf[:0]
		}
	}
	r.body = pagi.HTTPResponseBody{Body: []byte(closing)}
	return send(ctx, &r.body)
}
