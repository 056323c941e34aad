// Package cli is the pagi command line: run, validate, fmt and version. It
// is a package (not just a main) so custom builds can register their own
// handler and middleware types and reuse it.
package cli

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"

	// The built-in handler and middleware types register themselves.
	_ "github.com/pagihq/pagi/handlers"
	_ "github.com/pagihq/pagi/middleware"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed (bad config, startup failed)
	exitUsage = 2 // the command line was wrong
)

const usage = `pagi: a web server driven by one HCL file

Usage:
  pagi run [--no-watch] FILE          serve the config in FILE
  pagi validate [--format text|json] FILE...
                                      check configs; exit 1 on errors
  pagi fmt [--check | -w] FILE...     format configs canonically
  pagi version                        print the version

Run "pagi COMMAND --help" for the options of a command.
`

// Main runs the command line args (without the program name) and returns
// the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "validate":
		return validateCmd(args[1:], stdout, stderr)
	case "fmt":
		return fmtCmd(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "pagi", Version())
		return exitOK
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "pagi: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// Version returns the module version pagi was built from, or "devel".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// newFlagSet returns a flag set that prints its usage to stderr and does
// not exit the process.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: pagi %s\n\nOptions:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and reports the exit code to return when the
// command should stop (help or a usage error).
func parseFlags(fs *flag.FlagSet, args []string) (stop bool, code int) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return true, exitOK
		}
		return true, exitUsage
	}
	return false, 0
}
