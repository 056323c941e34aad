package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi/config"
)

// fmtCmd formats configs canonically: to stdout, in place (-w) or as a
// check (--check lists files that are not formatted and exits 1).
func fmtCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("fmt", "fmt [--check | -w] FILE...", stderr)
	check := fs.Bool("check", false, "list files whose formatting differs; exit 1 if any")
	write := fs.Bool("w", false, "write the result to the file instead of stdout")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() == 0 || (*check && *write) {
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	for _, path := range fs.Args() {
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "pagi fmt: %v\n", err)
			code = exitError
			continue
		}
		if f, diags := config.ParseSyntax(src, path); diags.HasErrors() {
			res := &config.Result{Diags: diags, Files: map[string]*hcl.File{path: f}}
			_ = res.WriteText(stderr, colorFor(stderr))
			code = exitError
			continue
		}
		out := config.Format(src)
		switch {
		case *check:
			if !bytes.Equal(src, out) {
				fmt.Fprintln(stdout, path)
				code = exitError
			}
		case *write:
			if bytes.Equal(src, out) {
				continue
			}
			if err := writeFileKeepMode(path, out); err != nil {
				fmt.Fprintf(stderr, "pagi fmt: %v\n", err)
				code = exitError
			}
		default:
			_, _ = stdout.Write(out)
		}
	}
	return code
}

func writeFileKeepMode(path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, fi.Mode().Perm())
}
