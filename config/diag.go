package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// ANSI escapes used by WriteText when colour is on.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[1;31m"
	ansiYellow = "\x1b[1;33m"
)

// shortDetail is the longest Detail printed on the summary's line.
const shortDetail = 100

// posString formats the start of rng as file:line:col.
func posString(rng hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", rng.Filename, rng.Start.Line, rng.Start.Column)
}

// errorAt returns an error diagnostic at rng.
func errorAt(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

// warningAt returns a warning diagnostic at rng.
func warningAt(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

// sortDiags orders diags by file (in the order of files, then any other by
// name), then by position; diagnostics without a subject come first. The
// sort is stable, so diagnostics at one spot keep their order.
func sortDiags(diags hcl.Diagnostics, files []string) {
	index := make(map[string]int, len(files))
	for i, f := range files {
		if _, ok := index[f]; !ok {
			index[f] = i + 1
		}
	}
	key := func(d *hcl.Diagnostic) (int, string, int) {
		if d.Subject == nil {
			return 0, "", 0
		}
		if i, ok := index[d.Subject.Filename]; ok {
			return i, "", d.Subject.Start.Byte
		}
		return len(files) + 1, d.Subject.Filename, d.Subject.Start.Byte
	}
	sort.SliceStable(diags, func(i, j int) bool {
		ai, af, ab := key(diags[i])
		bi, bf, bb := key(diags[j])
		if ai != bi {
			return ai < bi
		}
		if af != bf {
			return af < bf
		}
		return ab < bb
	})
}

// polishDiags rewrites HCL's generic messages for failed calls of env()
// and file() into the function's own message.
func polishDiags(diags hcl.Diagnostics) {
	for _, d := range diags {
		extra, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](d)
		if !ok || extra.FunctionCallError() == nil {
			continue
		}
		switch name := extra.CalledFunctionName(); name {
		case "env", "file":
			d.Summary, d.Detail = fmt.Sprintf("%s(): %v", name, extra.FunctionCallError()), ""
		}
	}
}

// severityName is "error" or "warning".
func severityName(s hcl.DiagnosticSeverity) string {
	if s == hcl.DiagWarning {
		return "warning"
	}
	return "error"
}

// WriteText writes every diagnostic of r the way a compiler does:
//
//	site.hcl:14:5: error: unknown handler "statik"; did you mean "static"?
//	   14 |     statik {
//	      |     ^^^^^^
//
// A short one-line Detail follows the summary after "; ", a longer one (or
// one after a question) goes on the lines after the source excerpt,
// indented. With color, severities are
// red or yellow and locations bold (ANSI escapes).
func (r *Result) WriteText(w io.Writer, color bool) error {
	var b bytes.Buffer
	for _, d := range r.Diags {
		r.writeDiag(&b, d, color)
	}
	_, err := w.Write(b.Bytes())
	if err != nil {
		return fmt.Errorf("writing diagnostics: %w", err)
	}
	return nil
}

func (r *Result) writeDiag(b *bytes.Buffer, d *hcl.Diagnostic, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	sev := severityName(d.Severity)
	sevColor := ansiRed
	if d.Severity == hcl.DiagWarning {
		sevColor = ansiYellow
	}
	if d.Subject != nil {
		b.WriteString(paint(ansiBold, posString(*d.Subject)+":"))
		b.WriteByte(' ')
	}
	b.WriteString(paint(sevColor, sev+":"))
	b.WriteByte(' ')
	b.WriteString(d.Summary)
	detail := strings.TrimSpace(d.Detail)
	inline := detail != "" && !strings.Contains(detail, "\n") && utf8.RuneCountInString(detail) <= shortDetail &&
		!strings.HasSuffix(d.Summary, "?")
	if inline {
		b.WriteString("; ")
		b.WriteString(detail)
	}
	b.WriteByte('\n')
	if d.Subject != nil {
		r.writeExcerpt(b, *d.Subject, func(s string) string { return paint(sevColor, s) })
	}
	if detail != "" && !inline {
		for _, line := range strings.Split(detail, "\n") {
			b.WriteString("      ")
			b.WriteString(strings.TrimRight(line, " \t"))
			b.WriteByte('\n')
		}
	}
}

// writeExcerpt writes the first source line of rng with its number, and a
// caret line under the part rng covers.
func (r *Result) writeExcerpt(b *bytes.Buffer, rng hcl.Range, paint func(string) string) {
	f := r.Files[rng.Filename]
	if f == nil {
		return
	}
	src := f.Bytes
	start := rng.Start.Byte
	if start < 0 || start > len(src) {
		return
	}
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		lineEnd = start + i
	}
	line := strings.TrimRight(string(src[lineStart:lineEnd]), "\r")
	end := min(max(rng.End.Byte, start), lineEnd)
	prefix, marked := string(src[lineStart:start]), string(src[start:end])
	if !utf8.ValidString(line) {
		line = strings.ToValidUTF8(line, "\uFFFD")
		prefix = strings.ToValidUTF8(prefix, "\uFFFD")
		marked = strings.ToValidUTF8(marked, "\uFFFD")
	}
	var pad strings.Builder
	for _, c := range prefix {
		if c == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	n := max(utf8.RuneCountInString(strings.TrimRight(marked, "\r")), 1)
	fmt.Fprintf(b, "%5d | %s\n", rng.Start.Line, line)
	fmt.Fprintf(b, "%5s | %s%s\n", "", pad.String(), paint(strings.Repeat("^", n)))
}

// jsonDiag is one diagnostic in WriteJSON's output.
type jsonDiag struct {
	Severity  string `json:"severity"`
	Summary   string `json:"summary"`
	Detail    string `json:"detail,omitempty"`
	Filename  string `json:"filename,omitempty"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	EndLine   int    `json:"end_line,omitempty"`
	EndColumn int    `json:"end_column,omitempty"`
}

// WriteJSON writes the diagnostics of r as a JSON array, for editors and CI:
//
//	[{"severity":"error","summary":"...","detail":"...","filename":"site.hcl",
//	  "line":14,"column":5,"end_line":14,"end_column":11}]
//
// Position fields are left out for a diagnostic without a source range. An
// empty result is written as [].
func (r *Result) WriteJSON(w io.Writer) error {
	out := make([]jsonDiag, 0, len(r.Diags))
	for _, d := range r.Diags {
		j := jsonDiag{Severity: severityName(d.Severity), Summary: d.Summary, Detail: d.Detail}
		if s := d.Subject; s != nil {
			j.Filename, j.Line, j.Column, j.EndLine, j.EndColumn = s.Filename, s.Start.Line, s.Start.Column, s.End.Line, s.End.Column
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing diagnostics as JSON: %w", err)
	}
	return nil
}
