package config

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"runtime/debug"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Result is the outcome of loading a config.
type Result struct {
	// Config is the validated config, or nil when Diags has errors.
	Config *Config
	// Diags holds every error and warning of every file, in source order.
	Diags hcl.Diagnostics
	// Files are the parsed config files by filename as given, for rendering
	// diagnostics with their source lines.
	Files map[string]*hcl.File
}

// HasErrors reports whether r holds at least one error (warnings alone do
// not make a config invalid).
func (r *Result) HasErrors() bool { return r.Diags.HasErrors() }

// Load reads the config file at path, parses and validates it. Relative paths
// in the config resolve against the file's directory. Load never panics and
// never binds a port or creates a file; it reads the config, the files it
// names (file(), TLS certificates and keys) and checks that directories
// exist. Diagnostics name the file as path is written.
func Load(path string) *Result {
	src, err := readRegularFile(path)
	if err != nil {
		return &Result{
			Files: map[string]*hcl.File{},
			Diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("cannot load config: %v", err)}},
		}
	}
	return Parse(path, src)
}

// Parse is Load with the file's content given: src is parsed as the file
// named filename, and relative paths resolve against filepath.Dir(filename).
// Parse never panics, whatever src holds.
func Parse(filename string, src []byte) (res *Result) {
	res = &Result{Files: map[string]*hcl.File{}}
	defer func() {
		if p := recover(); p != nil {
			res.Config = nil
			res.Diags = append(res.Diags, internalError(fmt.Sprintf("loading %s panicked: %v\n%s", filename, p, debug.Stack())))
		}
	}()
	l := newLoader(filename, src)
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if file != nil {
		res.Files[filename] = file
	}
	l.diags = append(l.diags, diags...)
	if !diags.HasErrors() && file != nil {
		if body, ok := file.Body.(*hclsyntax.Body); ok {
			l.load(body)
		}
	}
	polishDiags(l.diags)
	sortDiags(l.diags, filename)
	res.Diags = l.diags
	if !res.Diags.HasErrors() && file != nil {
		l.finish()
		res.Config = l.cfg
	}
	return res
}

// loader holds the state of one Parse.
type loader struct {
	filename string // as given to Parse, for diagnostics
	path     string // absolute path of the main file
	dir      string // absolute directory relative paths resolve against
	ctx      *hcl.EvalContext
	diags    hcl.Diagnostics
	cfg      *Config

	// files lists the absolute paths read, in order; contents holds what
	// was read of each.
	files    []string
	contents map[string][]byte

	listeners map[string]*Listener
	chains    map[string]*Chain
	sites     map[string]*Site
	// labels holds the range of each route's label; valid the routes whose
	// pattern is usable for conflict checks; siteOf each route's site.
	labels map[*Route]hcl.Range
	valid  map[*Route]bool
	siteOf map[*Route]*Site
}

func newLoader(filename string, src []byte) *loader {
	abs, err := filepath.Abs(filename)
	if err != nil {
		abs = filepath.Clean(filename)
	}
	l := &loader{
		filename:  filename,
		path:      abs,
		dir:       filepath.Dir(abs),
		cfg:       &Config{Path: abs},
		contents:  map[string][]byte{abs: src},
		files:     []string{abs},
		listeners: map[string]*Listener{},
		chains:    map[string]*Chain{},
		sites:     map[string]*Site{},
		labels:    map[*Route]hcl.Range{},
		valid:     map[*Route]bool{},
		siteOf:    map[*Route]*Site{},
	}
	l.ctx = l.evalContext()
	return l
}

// resolve makes p absolute, relative to the config's directory.
func (l *loader) resolve(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.dir, p)
}

func (l *loader) errorAt(rng hcl.Range, summary, detail string) {
	l.diags = append(l.diags, errorAt(rng, summary, detail))
}

func (l *loader) warningAt(rng hcl.Range, summary, detail string) {
	l.diags = append(l.diags, warningAt(rng, summary, detail))
}

// load decodes and checks the top-level body, in the order the parts
// depend on each other.
func (l *loader) load(body *hclsyntax.Body) {
	top := l.topLevel(body)
	l.server(top["server"])
	for _, b := range top["listener"] {
		l.listener(b)
	}
	l.pubsub(top["pubsub"])
	for _, b := range top["middleware"] {
		l.chain(b)
	}
	for _, b := range top["site"] {
		l.site(b)
	}
	l.checkConflicts()
	if !l.diags.HasErrors() {
		// Hints about a config that is valid but probably not what was
		// meant; after errors they would mostly be noise.
		l.checkUnused(top["listener"])
		l.checkEmptySites()
	}
}

// finish fills in the config's file list and hash.
func (l *loader) finish() {
	h := sha256.New()
	var n [8]byte
	for _, f := range l.files {
		data := l.contents[f]
		binary.BigEndian.PutUint64(n[:], uint64(len(data)))
		h.Write(n[:])
		h.Write(data)
	}
	l.cfg.Files = append([]string(nil), l.files...)
	l.cfg.Hash = hex.EncodeToString(h.Sum(nil))
}
