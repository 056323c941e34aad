package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/engine"
)

// runCmd serves a config until SIGINT or SIGTERM, then shuts down
// gracefully.
func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run [--no-watch] FILE", stderr)
	noWatch := fs.Bool("no-watch", false, "do not reload when the config file changes (SIGHUP still reloads)")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	_ = noWatch
	path := fs.Arg(0)
	res := config.Load(path)
	if len(res.Diags) > 0 {
		_ = res.WriteText(stderr, colorFor(stderr))
	}
	if res.Diags.HasErrors() {
		return exitError
	}
	cfg := res.Config
	log, err := engine.NewLogger(stderr, cfg.Server.LogLevel, cfg.Server.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "pagi: %v\n", err)
		return exitError
	}
	srv, err := engine.New(cfg, log)
	if err != nil {
		log.Error("config does not build", "err", err)
		return exitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := srv.Start(ctx); err != nil {
		log.Error("startup failed", "err", err)
		return exitError
	}
	log.Info("pagi is serving", "config", path, "version", Version(), "pid", os.Getpid())
	for {
		select {
		case <-hup:
			log.Warn("SIGHUP received: configuration reload is not available in this build; restart to apply changes")
			continue
		case <-ctx.Done():
		}
		break
	}
	grace := cfg.Server.GracefulTimeout.D()
	log.Info("shutting down", "graceful_timeout", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not drain everything", "err", err)
	}
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond).String())
	return exitOK
}

// colorFor reports whether diagnostics written to w should be coloured.
func colorFor(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
