package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Limits on includes, so that a config cannot make loading read without
// end.
const (
	// maxIncludeDepth is how deeply includes may nest: the main file is at
	// depth 0, a file it includes at depth 1.
	maxIncludeDepth = 32
	// maxIncludedFiles is how many files a config may include in all, the
	// main file not counted.
	maxIncludedFiles = 1000
)

// includeExample is how an include is written, for error details.
const includeExample = `include "sites/*.hcl"`

// srcFile is one config file of a load: the main file or an included one.
type srcFile struct {
	name  string           // as in diagnostics: the main file as given, an included one relative to it
	abs   string           // absolute path
	key   string           // abs with symbolic links resolved where possible, to spot a file met twice
	dir   string           // absolute directory; relative paths in the file resolve against it
	ctx   *hcl.EvalContext // expressions of the file are evaluated in it (file() is relative to dir)
	from  *srcFile         // the file that included this one; nil for the main file
	at    hcl.Range        // the include statement in from that loaded this file
	depth int              // 0 for the main file
}

// includeStmt is one include statement.
type includeStmt struct {
	path  string    // the label's value
	rng   hcl.Range // the whole statement, include "path"
	label hcl.Range // the quoted path
}

// newSrcFile returns the srcFile for the file at abs, shown as name.
func (l *loader) newSrcFile(name, abs string, from *srcFile, at hcl.Range) *srcFile {
	f := &srcFile{name: name, abs: abs, key: fileKey(abs), dir: filepath.Dir(abs), from: from, at: at}
	if from != nil {
		f.depth = from.depth + 1
	}
	f.ctx = l.evalContext(f.dir)
	l.srcs = append(l.srcs, f)
	l.byName[name] = f
	l.byKey[f.key] = f
	return f
}

// fileKey returns abs with symbolic links resolved, so that one file
// reached by two paths is known as one. A file that does not exist (Parse's
// main file need not) keeps its name, in its directory resolved.
func fileKey(abs string) string {
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		return p
	}
	if d, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(d, filepath.Base(abs))
	}
	return abs
}

// enter makes the file block b was written in the current one: relative
// paths and file() resolve against its directory from now on.
func (l *loader) enter(b *hclsyntax.Block) {
	if f := l.byName[b.TypeRange.Filename]; f != nil {
		l.dir, l.ctx = f.dir, f.ctx
	}
}

// loadFile parses src as the content of f and adds its top-level blocks to
// top, expanding its includes in place.
func (l *loader) loadFile(f *srcFile, src []byte, top map[string][]*hclsyntax.Block) {
	file, stmts, diags := parseSyntax(src, f.name)
	if file != nil {
		l.hclFiles[f.name] = file
	}
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		l.incomplete = true
		return
	}
	if body, ok := file.Body.(*hclsyntax.Body); ok {
		l.topLevel(f, body, stmts, top)
	}
}

// ParseSyntax parses src, the content of the config file filename, as the
// loader does before it checks any block: HCL's native syntax, plus
// include statements written without braces (include "path" on a line of
// its own), which it blanks out of the body. The file's Bytes are src. Use
// it where a config's syntax alone is checked, as pagi fmt does.
func ParseSyntax(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	f, _, diags := parseSyntax(src, filename)
	return f, diags
}

// parseSyntax is ParseSyntax, also returning the top-level include
// statements written without braces, in source order.
func parseSyntax(src []byte, filename string) (*hcl.File, []includeStmt, hcl.Diagnostics) {
	stmts, blanked, diags := scanIncludes(src, filename)
	file, pdiags := hclsyntax.ParseConfig(blanked, filename, hcl.InitialPos)
	if file != nil {
		file.Bytes = src
	}
	return file, stmts, append(diags, pdiags...)
}

// scanIncludes finds the include statements of src written as the word
// include and a quoted path alone on a line, which HCL's grammar has no
// place for (a block needs braces). It returns those at the top level and a
// copy of src with every such statement replaced by spaces, so that the
// copy parses as plain HCL with every position unchanged. A statement below
// the top level, or with a path that is not a plain string, is reported and
// blanked too. The pattern is never valid HCL, so nothing valid is changed.
func scanIncludes(src []byte, filename string) ([]includeStmt, []byte, hcl.Diagnostics) {
	toks, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	// The parser drops comments, except that a line comment ends its line.
	ts := make([]hclsyntax.Token, 0, len(toks))
	for _, t := range toks {
		if t.Type == hclsyntax.TokenComment {
			if !bytes.HasSuffix(t.Bytes, []byte("\n")) {
				continue
			}
			t.Type = hclsyntax.TokenNewline
		}
		ts = append(ts, t)
	}
	endsLine := func(i int) bool {
		return i >= len(ts) || ts[i].Type == hclsyntax.TokenNewline || ts[i].Type == hclsyntax.TokenEOF
	}
	out, copied := src, false
	blank := func(rng hcl.Range) {
		if !copied {
			out, copied = append([]byte(nil), src...), true
		}
		for i := rng.Start.Byte; i < rng.End.Byte && i < len(out); i++ {
			if out[i] != '\n' && out[i] != '\r' {
				out[i] = ' '
			}
		}
	}
	var stmts []includeStmt
	var diags hcl.Diagnostics
	depth := 0
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
			continue
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenTemplateSeqEnd:
			depth = max(depth-1, 0)
			continue
		case hclsyntax.TokenIdent:
		default:
			continue
		}
		if string(t.Bytes) != "include" || i > 0 && ts[i-1].Type != hclsyntax.TokenNewline && ts[i-1].Type != hclsyntax.TokenOBrace {
			continue
		}
		if endsLine(i + 1) {
			blank(t.Range)
			diags = append(diags, errorAt(t.Range, "an include needs a path", "write "+includeExample))
			continue
		}
		if ts[i+1].Type != hclsyntax.TokenOQuote {
			continue
		}
		// The quoted path: up to the matching close quote.
		level, plain, k := 0, true, i+1
		for ; k < len(ts); k++ {
			switch ts[k].Type {
			case hclsyntax.TokenOQuote:
				level++
			case hclsyntax.TokenCQuote:
				level--
			case hclsyntax.TokenQuotedLit:
			default:
				plain = false
			}
			if level == 0 {
				break
			}
		}
		if k >= len(ts) || !endsLine(k+1) {
			// Not alone on its line (include "x" { ... } is a block): the
			// parser takes it.
			continue
		}
		rng := hcl.RangeBetween(t.Range, ts[k].Range)
		label := hcl.RangeBetween(ts[i+1].Range, ts[k].Range)
		blank(rng)
		i = k
		switch {
		case depth > 0:
			diags = append(diags, errorAt(rng, "include is allowed only at the top level of a file",
				"write the include outside every block; the included file's blocks join the config's top level"))
		case !plain:
			diags = append(diags, errorAt(label, "the path of an include must be a plain string",
				"interpolations and template directives are not evaluated in include paths"))
		default:
			path, ok := quotedValue(src[label.Start.Byte:label.End.Byte], label)
			if !ok {
				diags = append(diags, errorAt(label, "the path of an include must be a plain string", ""))
				continue
			}
			stmts = append(stmts, includeStmt{path: path, rng: rng, label: label})
		}
	}
	return stmts, out, diags
}

// quotedValue returns the value of a quoted string literal, escapes
// resolved.
func quotedValue(lit []byte, rng hcl.Range) (string, bool) {
	expr, diags := hclsyntax.ParseExpression(lit, rng.Filename, rng.Start)
	if diags.HasErrors() {
		return "", false
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// includeBlock turns a top-level include block, include "path" {}, into
// its statement. ok is false (and the problem reported) when the block is
// malformed.
func (l *loader) includeBlock(b *hclsyntax.Block) (includeStmt, bool) {
	if !l.checkLabels(b, 1, includeExample) {
		return includeStmt{}, false
	}
	if len(b.Body.Attributes) > 0 || len(b.Body.Blocks) > 0 {
		l.errorAt(b.Body.SrcRange, "an include takes no body", "write "+includeExample+" on a line of its own")
		return includeStmt{}, false
	}
	return includeStmt{path: b.Labels[0], rng: hcl.RangeBetween(b.TypeRange, b.LabelRanges[0]), label: b.LabelRanges[0]}, true
}

// hasGlobMeta reports whether path holds a glob metacharacter of
// filepath.Match.
func hasGlobMeta(path string) bool {
	magic := `*?[`
	if runtime.GOOS != "windows" {
		magic = `*?[\`
	}
	return strings.ContainsAny(path, magic)
}

// include loads the files statement s of file f names, adding their blocks
// to top. Problems that leave part of the config unread (a missing file, a
// bad pattern, a limit) mark the load incomplete: the blocks are then not
// checked, since most of what would be found is the missing part's absence.
func (l *loader) include(f *srcFile, s includeStmt, top map[string][]*hclsyntax.Block) {
	fail := func(rng hcl.Range, summary, detail string) {
		l.errorAt(rng, summary, detail)
		l.incomplete = true
	}
	switch {
	case s.path == "":
		fail(s.label, "the path of an include must not be empty", "write "+includeExample)
		return
	case strings.Contains(s.path, "**"):
		fail(s.label, fmt.Sprintf("include %q: ** is not supported", s.path),
			"a * matches names within one directory only; write one include per level, as in sites/*.hcl and sites/*/*.hcl")
		return
	case f.depth >= maxIncludeDepth:
		if !l.tooDeep {
			l.tooDeep = true
			fail(s.rng, fmt.Sprintf("includes nest too deeply: at most %d levels", maxIncludeDepth), "include the files from a level closer to the main file")
		}
		return
	}
	pattern := s.path
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(f.dir, pattern)
	}
	if !hasGlobMeta(s.path) {
		l.includeFile(f, s, pattern, false, top)
		return
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		fail(s.label, fmt.Sprintf("invalid include pattern %q: %v", s.path, err),
			"patterns use *, ? and [...] as in a shell, within one directory level each")
		return
	}
	files := matches[:0]
	for _, m := range matches {
		// A pattern such as sites/* may match directories: they hold no
		// config.
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			continue
		}
		files = append(files, m)
	}
	if len(files) == 0 {
		l.warningAt(s.label, fmt.Sprintf("include %q matches no file", s.path), fmt.Sprintf("no file matches %s", pattern))
		return
	}
	sort.Strings(files)
	for _, m := range files {
		l.includeFile(f, s, m, true, top)
	}
}

// includeFile loads the file at abs, named by statement s of file f
// (directly, or as one match of a pattern when glob is set).
func (l *loader) includeFile(f *srcFile, s includeStmt, abs string, glob bool, top map[string][]*hclsyntax.Block) {
	abs = filepath.Clean(abs)
	name := abs
	if !filepath.IsAbs(s.path) {
		if rel, err := filepath.Rel(f.dir, abs); err == nil {
			name = filepath.Join(filepath.Dir(f.name), rel)
		}
	}
	key := fileKey(abs)
	for g := f; g != nil; g = g.from {
		if g.key != key {
			continue
		}
		var chain []string // from the target back up the chain, reversed below
		chain = append(chain, g.name)
		for h := f; h != g; h = h.from {
			chain = append(chain, h.name)
		}
		chain = append(chain, g.name)
		slices.Reverse(chain)
		detail := "a file must not include itself, directly or through other files"
		if glob && g == f {
			detail = fmt.Sprintf("the pattern %q matches the file it is written in; keep included files in a directory of their own", s.path)
		}
		l.errorAt(s.rng, "include cycle: "+strings.Join(chain, " → "), detail)
		return
	}
	if prev := l.byKey[key]; prev != nil {
		// Not the main file: that one is in every chain.
		l.warningAt(s.rng, fmt.Sprintf("%s is already included", name), fmt.Sprintf("it was included at %s and is loaded only once", posString(prev.at)))
		return
	}
	if l.included >= maxIncludedFiles {
		if !l.tooMany {
			l.tooMany = true
			l.errorAt(s.rng, fmt.Sprintf("too many included files: at most %d", maxIncludedFiles), "merge some of them, or include fewer")
			l.incomplete = true
		}
		return
	}
	data, err := l.readFile(abs)
	if err != nil {
		l.errorAt(s.label, fmt.Sprintf("include %q: %v", s.path, err), "")
		l.incomplete = true
		return
	}
	l.included++
	l.loadFile(l.newSrcFile(name, abs, f, s.rng), data, top)
}

// noteIncludes adds to the detail of every diagnostic in an included file
// the chain of includes that led there, innermost first.
func (l *loader) noteIncludes(diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Subject == nil {
			continue
		}
		f := l.byName[d.Subject.Filename]
		if f == nil || f.from == nil {
			continue
		}
		var lines []string
		for g := f; g.from != nil; g = g.from {
			lines = append(lines, "included from "+posString(g.at))
		}
		if n := len(lines); n > 8 {
			lines = append(lines[:4:4], append([]string{fmt.Sprintf("(%d more)", n-7)}, lines[n-3:]...)...)
		}
		if d.Detail != "" {
			d.Detail += "\n"
		}
		d.Detail += strings.Join(lines, "\n")
	}
}

// fileOrder returns the names of the files read, in load order.
func (l *loader) fileOrder() []string {
	out := make([]string, len(l.srcs))
	for i, f := range l.srcs {
		out[i] = f.name
	}
	return out
}
