package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi/config"
)

// validateCmd checks configs without binding a port or creating a file.
func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "validate [--format text|json] FILE...", stderr)
	format := fs.String("format", "text", "output format: text or json")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() == 0 || (*format != "text" && *format != "json") {
		fs.Usage()
		return exitUsage
	}
	failed := false
	var all []json.RawMessage
	for _, path := range fs.Args() {
		res := config.Load(path)
		if res.Diags.HasErrors() {
			failed = true
		}
		switch *format {
		case "json":
			var b jsonBuffer
			if err := res.WriteJSON(&b); err != nil {
				fmt.Fprintf(stderr, "pagi validate: %v\n", err)
				return exitError
			}
			var items []json.RawMessage
			if err := json.Unmarshal(b.Bytes(), &items); err == nil {
				all = append(all, items...)
			}
		default:
			if err := res.WriteText(stderr, colorFor(stderr)); err != nil {
				fmt.Fprintf(stderr, "pagi validate: %v\n", err)
				return exitError
			}
			if !res.Diags.HasErrors() {
				fmt.Fprintf(stdout, "%s: ok%s\n", path, warningsNote(res.Diags))
			}
		}
	}
	if *format == "json" {
		if all == nil {
			all = []json.RawMessage{}
		}
		out, _ := json.MarshalIndent(all, "", "  ")
		fmt.Fprintln(stdout, string(out))
	}
	if failed {
		return exitError
	}
	return exitOK
}

func warningsNote(diags hcl.Diagnostics) string {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			n++
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		return " (1 warning)"
	}
	return fmt.Sprintf(" (%d warnings)", n)
}

// jsonBuffer is a minimal bytes buffer (kept local to avoid importing bytes
// just for this).
type jsonBuffer struct{ b []byte }

func (j *jsonBuffer) Write(p []byte) (int, error) { j.b = append(j.b, p...); return len(p), nil }
func (j *jsonBuffer) Bytes() []byte               { return j.b }
