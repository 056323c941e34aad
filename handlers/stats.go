package handlers

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "stats", Kind: config.KindHandler,
		Doc: "reports the process's goroutines, memory and open files as JSON",
		New: func() any { return &Stats{} },
	})
}

// Stats is the stats handler: a JSON snapshot of the process for operators,
// leak checks and benchmarks. Keep it on a private listener or behind
// authentication.
//
//	route "GET /_stats" {
//	  stats {}
//	}
//
// "?gc=1" runs a garbage collection and returns free memory to the OS
// first, so heap and RSS figures show live data.
type Stats struct{}

var _ config.HandlerModule = (*Stats)(nil)

// StatsSnapshot is the JSON the stats handler answers with.
type StatsSnapshot struct {
	Goroutines  int     `json:"goroutines"`
	HeapAlloc   uint64  `json:"heap_alloc_bytes"`
	HeapInuse   uint64  `json:"heap_inuse_bytes"`
	HeapObjects uint64  `json:"heap_objects"`
	Sys         uint64  `json:"sys_bytes"`
	NumGC       uint32  `json:"num_gc"`
	RSS         int64   `json:"rss_bytes"`
	OpenFDs     int     `json:"open_fds"`
	Uptime      float64 `json:"uptime_seconds"`
}

// BuildApp returns the stats app.
func (*Stats) BuildApp(*config.BuildContext) (pagi.App, error) {
	started := time.Now()
	return func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if s.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		if strings.Contains(s.QueryString, "gc=1") {
			debug.FreeOSMemory() // a collection, and free pages go back to the OS
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		snap := StatsSnapshot{
			Goroutines: runtime.NumGoroutine(), HeapAlloc: ms.HeapAlloc, HeapInuse: ms.HeapInuse,
			HeapObjects: ms.HeapObjects, Sys: ms.Sys, NumGC: ms.NumGC, RSS: residentBytes(),
			OpenFDs: openFDs(), Uptime: time.Since(started).Seconds(),
		}
		body, err := json.Marshal(snap)
		if err != nil {
			return err
		}
		return pagi.Respond(ctx, s, send, 200, pagi.Headers{{Name: "content-type", Value: "application/json"},
			{Name: "cache-control", Value: "no-store"}}, append(body, '\n'))
	}, nil
}

// residentBytes reads the resident set size from /proc (Linux); -1 where
// that is not available.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

// openFDs counts the process's open file descriptors (Linux); -1 elsewhere.
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries) - 1 // the directory being read
}
