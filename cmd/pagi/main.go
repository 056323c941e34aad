// Command pagi runs a web server described by one HCL file.
//
//	pagi run site.hcl          serve it (and follow edits of it)
//	pagi validate site.hcl     check it like a compiler would
//	pagi fmt -w site.hcl       format it canonically
//	pagi version
//
// Custom builds that add their own handler or middleware types import
// github.com/pagihq/pagi/cmd/pagi/cli, register their types in init, and
// call cli.Main from their own main.
package main

import (
	"os"

	"github.com/pagihq/pagi/cmd/pagi/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
