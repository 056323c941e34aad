package handlers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "static", Kind: config.KindHandler,
		Doc: "serves files from a directory",
		New: func() any {
			return &Static{
				Index:         []string{"index.html"},
				Precompressed: []string{"br", "gzip"},
				HideDotfiles:  true,
				ETag:          true,
			}
		},
	})
}

// Static is the static file handler.
//
//	static {
//	  root          = "./public"
//	  index         = ["index.html"]
//	  browse        = false
//	  precompressed = ["br", "gzip"]
//	  hide_dotfiles = true
//	  cache_control = "public, max-age=3600"
//	  etag          = true
//	}
//
// Files are opened through an os.Root, so no request path, ".." or symbolic
// link can reach outside the root directory. See docs/handlers-static.md
// for the full behaviour (ranges, conditional requests, precompressed
// sidecars, listings).
type Static struct {
	// Root is the directory served, relative to the config file's
	// directory unless absolute.
	Root string `hcl:"root"`
	// Index lists the file names tried, in order, for a directory request.
	Index []string `hcl:"index,optional"`
	// Browse enables HTML directory listings.
	Browse bool `hcl:"browse,optional"`
	// Precompressed lists the encodings (br, gzip, zstd) whose sidecar
	// files (name.br, name.gz, name.zst) are served to clients accepting
	// them, in order of preference.
	Precompressed []string `hcl:"precompressed,optional"`
	// HideDotfiles answers 404 for any path with a segment starting
	// with ".".
	HideDotfiles bool `hcl:"hide_dotfiles,optional"`
	// CacheControl, when not empty, is sent as Cache-Control with every
	// file and listing.
	CacheControl string `hcl:"cache_control,optional"`
	// ETag enables the ETag header and the conditionals that use it.
	ETag bool `hcl:"etag,optional"`

	mu    sync.Mutex
	roots []*os.Root
}

var (
	_ config.Validator     = (*Static)(nil)
	_ config.HandlerModule = (*Static)(nil)
	_ config.Cleaner       = (*Static)(nil)
)

// staticEncoding is a precompressed sidecar kind.
type staticEncoding struct {
	name   string // content-coding token
	ext    string // file name suffix
	suffix string // ETag suffix, so each representation has its own tag
}

var staticEncodings = map[string]staticEncoding{
	"br":   {name: "br", ext: ".br", suffix: "-br"},
	"gzip": {name: "gzip", ext: ".gz", suffix: "-gz"},
	"zstd": {name: "zstd", ext: ".zst", suffix: "-zst"},
}

// rootDir returns the root directory as an OS path.
func (st *Static) rootDir(dir string) string {
	if filepath.IsAbs(st.Root) {
		return filepath.Clean(st.Root)
	}
	return filepath.Join(dir, st.Root)
}

// Validate checks that the root is an existing directory and that the
// index names, encodings and Cache-Control value are usable.
func (st *Static) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if st.Root == "" {
		diags = append(diags, ctx.Error("root", "Empty root", "root must name the directory to serve"))
	} else {
		dir := st.rootDir(ctx.Dir)
		fi, err := os.Stat(dir)
		switch {
		case err != nil:
			diags = append(diags, ctx.Error("root", "Invalid root", fmt.Sprintf("cannot use %q as the root: %v", dir, err)))
		case !fi.IsDir():
			diags = append(diags, ctx.Error("root", "Invalid root", fmt.Sprintf("%q is not a directory", dir)))
		}
	}
	for _, name := range st.Index {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || !utf8.ValidString(name) {
			diags = append(diags, ctx.Error("index", "Invalid index file name",
				fmt.Sprintf("%q must be a plain file name, without slashes", name)))
		}
	}
	seen := map[string]bool{}
	for _, e := range st.Precompressed {
		if _, ok := staticEncodings[e]; !ok {
			diags = append(diags, ctx.Error("precompressed", "Unknown encoding",
				fmt.Sprintf("%q is not one of br, gzip, zstd", e)))
		} else if seen[e] {
			diags = append(diags, ctx.Error("precompressed", "Duplicate encoding", fmt.Sprintf("%q is listed twice", e)))
		}
		seen[e] = true
	}
	if st.CacheControl != "" {
		if err := pagi.ValidateHeader("cache-control", st.CacheControl); err != nil {
			diags = append(diags, ctx.Error("cache_control", "Invalid cache_control", err.Error()))
		}
	}
	return diags
}

// BuildApp opens the root directory once; the returned app serves every
// request through it. The root stays open until Cleanup.
func (st *Static) BuildApp(ctx *config.BuildContext) (pagi.App, error) {
	root, err := os.OpenRoot(st.rootDir(ctx.Dir))
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	st.mu.Lock()
	st.roots = append(st.roots, root)
	st.mu.Unlock()
	a := &staticApp{
		root:         root,
		index:        append([]string(nil), st.Index...),
		browse:       st.Browse,
		hideDot:      st.HideDotfiles,
		cacheControl: st.CacheControl,
		etag:         st.ETag,
	}
	for _, e := range st.Precompressed {
		if enc, ok := staticEncodings[e]; ok {
			a.encodings = append(a.encodings, enc)
		}
	}
	return a.serve, nil
}

// Cleanup closes the root directories opened by BuildApp.
func (st *Static) Cleanup() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	var errs []error
	for _, r := range st.roots {
		errs = append(errs, r.Close())
	}
	st.roots = nil
	return errors.Join(errs...)
}

// staticApp is a built static handler.
type staticApp struct {
	root         *os.Root
	index        []string
	browse       bool
	hideDot      bool
	cacheControl string
	etag         bool
	encodings    []staticEncoding
	ctypes       staticTypeCache
	// validatorCache holds recent representations' ETag and Last-Modified.
	validatorCache staticValidatorCache
}

// Header names and fixed values, built once.
const (
	stHAcceptRanges    = "accept-ranges"
	stHAllow           = "allow"
	stHCacheControl    = "cache-control"
	stHContentEncoding = "content-encoding"
	stHContentLength   = "content-length"
	stHContentRange    = "content-range"
	stHContentType     = "content-type"
	stHETag            = "etag"
	stHLastModified    = "last-modified"
	stHLocation        = "location"
	stHVary            = "vary"
	stHNoSniff         = "x-content-type-options"

	stVAcceptEncoding = "Accept-Encoding"
	stVBytes          = "bytes"
	stVTextPlain      = "text/plain; charset=utf-8"
	stVTextHTML       = "text/html; charset=utf-8"
)

// staticErrorHeaders are the headers of every error response.
var staticErrorHeaders = pagi.Headers{
	{Name: stHContentType, Value: stVTextPlain},
	{Name: stHNoSniff, Value: "nosniff"},
}

// staticMethodHeaders are the headers of a 405 response.
var staticMethodHeaders = pagi.Headers{
	{Name: stHContentType, Value: stVTextPlain},
	{Name: stHNoSniff, Value: "nosniff"},
	{Name: stHAllow, Value: "GET, HEAD"},
}

// staticErrorBodies holds the body of each error status the handler sends.
var staticErrorBodies = map[int][]byte{
	http.StatusBadRequest:                   []byte("400 bad request\n"),
	http.StatusForbidden:                    []byte("403 forbidden\n"),
	http.StatusNotFound:                     []byte("404 page not found\n"),
	http.StatusMethodNotAllowed:             []byte("405 method not allowed\n"),
	http.StatusNotAcceptable:                []byte("406 not acceptable: static files are served to plain HTTP requests only\n"),
	http.StatusPreconditionFailed:           []byte("412 precondition failed\n"),
	http.StatusRequestedRangeNotSatisfiable: []byte("416 range not satisfiable\n"),
	http.StatusInternalServerError:          []byte("500 internal server error\n"),
}

// staticFail sends a plain-text error response with the given status.
func staticFail(ctx context.Context, s *pagi.Scope, send pagi.Send, status int) error {
	return pagi.Respond(ctx, s, send, status, staticErrorHeaders, staticErrorBodies[status])
}

// serve is the app: one call per scope.
func (a *staticApp) serve(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
	switch s.Type {
	case pagi.ScopeHTTP:
	case pagi.ScopeLifespan:
		return pagi.ErrUnsupportedScope
	default:
		// A static file is no event stream and no WebSocket endpoint.
		return staticFail(ctx, s, send, http.StatusNotAcceptable)
	}
	if s.Method != http.MethodGet && s.Method != http.MethodHead {
		return pagi.Respond(ctx, s, send, http.StatusMethodNotAllowed, staticMethodHeaders, staticErrorBodies[http.StatusMethodNotAllowed])
	}
	name, slash, status := staticCleanName(s.Path, a.hideDot)
	if status != 0 {
		return staticFail(ctx, s, send, status)
	}
	f, fi, err := a.open(name)
	if err != nil {
		return a.openFailed(ctx, s, send, err)
	}
	defer f.Close()
	switch {
	case fi.IsDir():
		return a.serveDir(ctx, s, send, name, slash, f)
	case !fi.Mode().IsRegular() || slash:
		return staticFail(ctx, s, send, http.StatusNotFound)
	}
	return a.serveFile(ctx, s, send, name, f, fi)
}

// open opens name in the root and stats it. Files are opened non-blocking
// where the platform allows (see staticOpenFlags), so a FIFO cannot stall the
// request; only regular files and directories are ever read.
func (a *staticApp) open(name string) (*os.File, fs.FileInfo, error) {
	f, err := a.root.OpenFile(name, staticOpenFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// openFailed answers a failed open: 404 for names that do not resolve to a
// file inside the root, 403 for permission errors, 500 (and the error, for
// the engine to log) for anything else.
func (a *staticApp) openFailed(ctx context.Context, s *pagi.Scope, send pagi.Send, err error) error {
	switch staticOpenErrorStatus(err) {
	case http.StatusNotFound:
		return staticFail(ctx, s, send, http.StatusNotFound)
	case http.StatusForbidden:
		return staticFail(ctx, s, send, http.StatusForbidden)
	}
	if rerr := staticFail(ctx, s, send, http.StatusInternalServerError); rerr != nil {
		return rerr
	}
	return fmt.Errorf("static: %w", err)
}

// staticOpenErrorStatus classifies an error of opening a file in the root.
func staticOpenErrorStatus(err error) int {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		// os.Root reports escapes ("path escapes from parent") and
		// malformed names with errors of its own: the name does not
		// resolve to a file of the root.
		if errors.Is(err, os.ErrClosed) {
			return http.StatusInternalServerError
		}
		return http.StatusNotFound
	}
	switch errno {
	case syscall.ENOTDIR, syscall.ELOOP, syscall.ENAMETOOLONG, syscall.EINVAL, syscall.EISDIR, syscall.ENXIO:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// staticCleanName turns a request path (decoded, relative to the mount) into a
// name for the root: no leading or trailing slash, no empty or "."
// segments, "." for the root itself. It reports whether the path ended in
// a slash, and a non-zero status for paths that must be refused: 400 for
// NUL, backslashes, invalid UTF-8 or "..", 404 for dot segments when
// hideDot is set.
func staticCleanName(p string, hideDot bool) (name string, slash bool, status int) {
	if !utf8.ValidString(p) || strings.ContainsAny(p, "\x00\\") {
		return "", false, http.StatusBadRequest
	}
	slash = p == "" || p[len(p)-1] == '/'
	core := strings.TrimPrefix(p, "/")
	core = strings.TrimSuffix(core, "/")
	clean := true
	for rest := core; ; {
		seg, tail, more := strings.Cut(rest, "/")
		switch {
		case seg == "..":
			return "", false, http.StatusBadRequest
		case seg == "" || seg == ".":
			if core != "" {
				clean = false
			}
		case seg[0] == '.' && hideDot:
			return "", false, http.StatusNotFound
		}
		if !more {
			break
		}
		rest = tail
	}
	if clean {
		if core == "" {
			return ".", slash, 0
		}
		return core, slash, 0
	}
	var b strings.Builder
	b.Grow(len(core))
	for seg := range strings.SplitSeq(core, "/") {
		if seg == "" || seg == "." {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(seg)
	}
	if b.Len() == 0 {
		return ".", slash, 0
	}
	return b.String(), slash, 0
}

// serveDir answers a request for a directory: a redirect to the slashed
// path, the first index file that exists, a listing, or 404.
func (a *staticApp) serveDir(ctx context.Context, s *pagi.Scope, send pagi.Send, name string, slash bool, dir *os.File) error {
	if !slash {
		return staticRedirectToDir(ctx, s, send, name)
	}
	for _, idx := range a.index {
		iname := idx
		if name != "." {
			iname = name + "/" + idx
		}
		f, fi, err := a.open(iname)
		if err != nil {
			switch staticOpenErrorStatus(err) {
			case http.StatusNotFound:
				continue
			case http.StatusForbidden:
				return staticFail(ctx, s, send, http.StatusForbidden)
			}
			return a.openFailed(ctx, s, send, err)
		}
		if !fi.Mode().IsRegular() {
			f.Close()
			continue
		}
		err = a.serveFile(ctx, s, send, iname, f, fi)
		f.Close()
		return err
	}
	if a.browse {
		return a.serveListing(ctx, s, send, name, dir)
	}
	return staticFail(ctx, s, send, http.StatusNotFound)
}

// staticRedirectToDir answers 301 with the directory's path plus "/", keeping
// the query string. The Location is built from the mount prefix and the
// cleaned name, so it always starts with a single slash.
func staticRedirectToDir(ctx context.Context, s *pagi.Scope, send pagi.Send, name string) error {
	var b strings.Builder
	root := strings.TrimRight(s.RootPath, "/")
	b.WriteString(staticEscapePath(root))
	b.WriteByte('/')
	if name != "." {
		b.WriteString(staticEscapePath(name))
		b.WriteByte('/')
	}
	if s.QueryString != "" {
		b.WriteByte('?')
		b.WriteString(s.QueryString)
	}
	loc := b.String()
	if strings.HasPrefix(loc, "//") {
		loc = "/" + strings.TrimLeft(loc, "/")
	}
	headers := pagi.Headers{{Name: stHLocation, Value: loc}, {Name: stHContentType, Value: stVTextPlain}}
	return pagi.Respond(ctx, s, send, http.StatusMovedPermanently, headers, nil)
}

// staticFilePool recycles the per-request events and header storage of file
// responses; the engine reads events only during Send, so they may be
// reused once the app has sent them.
var staticFilePool = sync.Pool{New: func() any { return new(staticFileResponse) }}

// staticFileResponse is the reusable storage of one file response.
type staticFileResponse struct {
	hdrs  [10]pagi.Header
	start pagi.HTTPResponseStart
	body  pagi.HTTPResponseBody
	sniff [512]byte
}

// serveFile sends the regular file f (opened as name) or one of its
// precompressed sidecars, honouring conditional and range requests.
func (a *staticApp) serveFile(ctx context.Context, s *pagi.Scope, send pagi.Send, name string, f *os.File, fi fs.FileInfo) error {
	r := staticFilePool.Get().(*staticFileResponse)
	defer func() {
		r.start = pagi.HTTPResponseStart{}
		r.body = pagi.HTTPResponseBody{}
		clear(r.hdrs[:])
		staticFilePool.Put(r)
	}()

	ctype := a.ctypes.lookup(name)
	if ctype == "" {
		n, _ := f.ReadAt(r.sniff[:], 0)
		ctype = http.DetectContentType(r.sniff[:n])
	}

	getRange := ""
	if s.Method == http.MethodGet {
		getRange, _ = s.Headers.Get("range")
	}

	// Choose the representation: a sidecar only for requests without a
	// Range, so byte positions always refer to the plain file.
	body, bfi, enc := f, fi, staticEncoding{}
	if len(a.encodings) > 0 && getRange == "" {
		if ae, ok := staticJoinedHeader(s.Headers, "accept-encoding"); ok {
			for _, e := range a.encodings {
				if !staticAcceptsEncoding(ae, e.name) {
					continue
				}
				sf, sfi, err := a.open(name + e.ext)
				if err != nil {
					continue
				}
				if !sfi.Mode().IsRegular() {
					sf.Close()
					continue
				}
				defer sf.Close()
				body, bfi, enc = sf, sfi, e
				break
			}
		}
	}

	size := bfi.Size()
	mod := bfi.ModTime()
	if mod.IsZero() || mod.Unix() == 0 {
		mod = time.Time{}
	}
	etag, lastMod := a.validators(size, mod, enc.suffix)

	h := r.hdrs[:0]
	if etag != "" {
		h = append(h, pagi.Header{Name: stHETag, Value: etag})
	}
	if lastMod != "" {
		h = append(h, pagi.Header{Name: stHLastModified, Value: lastMod})
	}
	if a.cacheControl != "" {
		h = append(h, pagi.Header{Name: stHCacheControl, Value: a.cacheControl})
	}
	if len(a.encodings) > 0 {
		h = append(h, pagi.Header{Name: stHVary, Value: stVAcceptEncoding})
	}

	switch staticPreconditions(s.Headers, etag, mod) {
	case http.StatusNotModified:
		r.start = pagi.HTTPResponseStart{Status: http.StatusNotModified, Headers: h}
		if err := send(ctx, &r.start); err != nil {
			return err
		}
		return send(ctx, &r.body)
	case http.StatusPreconditionFailed:
		return staticFail(ctx, s, send, http.StatusPreconditionFailed)
	}

	base := len(h)
	h = append(h, pagi.Header{Name: stHContentType, Value: ctype})
	if enc.name != "" {
		h = append(h, pagi.Header{Name: stHContentEncoding, Value: enc.name})
	} else {
		h = append(h, pagi.Header{Name: stHAcceptRanges, Value: stVBytes})
	}

	status := http.StatusOK
	var off, length int64
	if getRange != "" && enc.name == "" && staticIfRange(s.Headers, etag, mod) {
		ranges, res := staticParseRange(getRange, size)
		switch res {
		case staticRangeUnsatisfiable:
			headers := pagi.Headers{
				{Name: stHContentType, Value: stVTextPlain},
				{Name: stHNoSniff, Value: "nosniff"},
				{Name: stHContentRange, Value: "bytes */" + strconv.FormatInt(size, 10)},
			}
			return pagi.Respond(ctx, s, send, http.StatusRequestedRangeNotSatisfiable, headers,
				staticErrorBodies[http.StatusRequestedRangeNotSatisfiable])
		case staticRangeOK:
			if len(ranges) > 1 {
				return staticSendMultipart(ctx, send, r, h[:base], ctype, body, size, ranges)
			}
			status = http.StatusPartialContent
			off, length = ranges[0].start, ranges[0].length
			h = append(h, pagi.Header{Name: stHContentRange, Value: ranges[0].contentRange(size)})
		}
	}

	if status == http.StatusOK {
		// The size is known: saying it lets the engine skip its own stat
		// and send a small file with the head in one write.
		length = size
	}
	r.start = pagi.HTTPResponseStart{Status: status, Headers: h}
	if err := send(ctx, &r.start); err != nil {
		return err
	}
	r.body = pagi.HTTPResponseBody{FH: body, Offset: off, Length: length}
	return send(ctx, &r.body)
}

// validators returns the ETag (empty when disabled) and Last-Modified
// (empty without a modification time) of a representation, from the
// handler's cache when it served the same one lately.
func (a *staticApp) validators(size int64, mod time.Time, suffix string) (etag, lastMod string) {
	return a.validatorCache.get(a.etag, size, mod, suffix)
}

// headerList returns the values of every request header called name,
// joined with ", " when there are several, and whether there was one.
func staticJoinedHeader(h pagi.Headers, name string) (string, bool) {
	first, n := -1, 0
	for i := range h {
		if h[i].Name == name {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	switch n {
	case 0:
		return "", false
	case 1:
		return h[first].Value, true
	}
	return strings.Join(h.Values(name), ", "), true
}
