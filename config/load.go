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

// Load reads the config file at path and the files it includes, parses and
// validates them. Relative paths in a file resolve against that file's
// directory. Load never panics and never binds a port or creates a file; it
// reads the config, its includes, the files it names (file(), TLS
// certificates and keys) and checks that directories exist. Diagnostics
// name the main file as path is written, and an included file by joining
// the directory of the file that includes it, so named, with the path
// written in the include.
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

// Parse is Load with the main file's content given: src is parsed as the
// file named filename, and relative paths (includes among them) resolve
// against filepath.Dir(filename). Included files are read from disk. Parse
// never panics, whatever src holds.
func Parse(filename string, src []byte) (res *Result) {
	res = &Result{Files: map[string]*hcl.File{}}
	defer func() {
		if p := recover(); p != nil {
			res.Config = nil
			res.Diags = append(res.Diags, internalError(fmt.Sprintf("loading %s panicked: %v\n%s", filename, p, debug.Stack())))
		}
	}()
	l := newLoader(filename, src)
	res.Files = l.hclFiles
	l.load(src)
	polishDiags(l.diags)
	l.noteIncludes(l.diags)
	sortDiags(l.diags, l.fileOrder())
	res.Diags = l.diags
	if !res.Diags.HasErrors() && l.hclFiles[filename] != nil {
		l.finish()
		res.Config = l.cfg
	}
	return res
}

// loader holds the state of one Parse.
type loader struct {
	main *srcFile // the main file
	// dir and ctx are those of the file whose block is being checked (see
	// enter): relative paths resolve against dir.
	dir   string
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
	cfg   *Config

	// srcs are the config files in load order, the main file first;
	// byName holds them by name as in diagnostics, byKey by fileKey.
	srcs   []*srcFile
	byName map[string]*srcFile
	byKey  map[string]*srcFile
	// hclFiles are the parsed config files by name, for Result.Files.
	hclFiles map[string]*hcl.File
	// included counts the included files; incomplete is set when a file
	// could not be read or parsed, so that some of the config is missing;
	// tooDeep and tooMany when a limit was reported.
	included                     int
	incomplete, tooDeep, tooMany bool

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
		cfg:       &Config{Path: abs},
		byName:    map[string]*srcFile{},
		byKey:     map[string]*srcFile{},
		hclFiles:  map[string]*hcl.File{},
		contents:  map[string][]byte{abs: src},
		files:     []string{abs},
		listeners: map[string]*Listener{},
		chains:    map[string]*Chain{},
		sites:     map[string]*Site{},
		labels:    map[*Route]hcl.Range{},
		valid:     map[*Route]bool{},
		siteOf:    map[*Route]*Site{},
	}
	l.main = l.newSrcFile(filename, abs, nil, hcl.Range{})
	l.dir, l.ctx = l.main.dir, l.main.ctx
	return l
}

// resolve makes p absolute, relative to the directory of the file being
// checked.
func (l *loader) resolve(p string) string {
	return resolveIn(l.dir, p)
}

// resolveIn makes p absolute, relative to dir.
func resolveIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func (l *loader) errorAt(rng hcl.Range, summary, detail string) {
	l.diags = append(l.diags, errorAt(rng, summary, detail))
}

func (l *loader) warningAt(rng hcl.Range, summary, detail string) {
	l.diags = append(l.diags, warningAt(rng, summary, detail))
}

// load parses the main file, whose content is src, and the files it
// includes, then decodes and checks the blocks of all of them, in the order
// the parts depend on each other. A top-level block that needs a file's
// directory (for relative paths) makes that file current with enter.
func (l *loader) load(src []byte) {
	top := map[string][]*hclsyntax.Block{}
	l.loadFile(l.main, src, top)
	if l.incomplete {
		return
	}
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
