// Command profpagi is pagi with a CPU profile written on exit (PROFILE env),
// for finding per-request costs under load.
package main

import (
	"os"
	"runtime/pprof"

	"github.com/pagihq/pagi/cmd/pagi/cli"
)

func main() {
	f, err := os.Create(os.Getenv("PROFILE"))
	if err != nil {
		panic(err)
	}
	_ = pprof.StartCPUProfile(f)
	code := cli.Main(os.Args[1:], os.Stdout, os.Stderr)
	pprof.StopCPUProfile()
	f.Close()
	os.Exit(code)
}
