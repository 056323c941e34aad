package engine

import (
	"net/http"
	"sync/atomic"
	"time"
)

// dateClock hands out the Date response header of the current second.
// net/http formats the Date of every response it writes afresh (a time
// layout walk of some 1,700 instructions); a response whose header map
// already holds Date skips that, so the engine sets it from this per-second
// cache instead. The value slice is shared by every response of the second
// and is never modified: a new second gets a new slice.
type dateClock struct {
	cur atomic.Pointer[dateValue]
}

type dateValue struct {
	sec   int64
	field []string // the header map's value: one formatted date
}

// field returns the Date header value for now, as a header map value.
func (d *dateClock) field() []string {
	now := time.Now()
	sec := now.Unix()
	if v := d.cur.Load(); v != nil && v.sec == sec {
		return v.field
	}
	v := &dateValue{sec: sec, field: []string{now.UTC().Format(http.TimeFormat)}}
	d.cur.Store(v)
	return v.field
}
