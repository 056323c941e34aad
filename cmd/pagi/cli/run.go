package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/engine"
	"github.com/pagihq/pagi/reload"
)

// runCmd serves a config until SIGINT or SIGTERM, then shuts down
// gracefully. Edits of the config (and of every file it uses) reload it
// unless watching is off; SIGHUP reloads in any case.
func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run [--no-watch] [--cpuprofile FILE] FILE", stderr)
	noWatch := fs.Bool("no-watch", false, "do not reload when the config file changes (SIGHUP still reloads)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE` (pprof format; with workers, of the master only; see docs/performance.md)")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	path := fs.Arg(0)
	if isWorker() {
		return runWorker(path, stderr) // started by a master: see worker.go
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "pagi: %v\n", err)
			return exitError
		}
		defer stopProfile()
	}
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
	if cfg.Server.Workers > 0 {
		return runMaster(path, !*noWatch, append([]string{"run"}, args...), log, stdout, stderr)
	}
	// Sockets: inherited (systemd, SIGUSR2 upgrade) or bound, and handed on
	// at the next SIGUSR2 (see upgrade.go).
	up := newSoloUpgrade(log, append([]string{"run"}, args...), stdout, stderr)
	defer up.stop()
	srv, err := engine.NewWithOptions(cfg, log, engine.Options{Inherited: up.inherited})
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
	up.serving()

	r := &reloader{path: path, srv: srv, log: log, stderr: stderr, files: cfg.Files}
	r.hash, _ = reload.Hash(cfg.Files)
	var changes <-chan struct{}
	if cfg.Server.Watch && !*noWatch {
		w, err := reload.New(cfg.Files, reload.Options{Logger: log})
		if err != nil {
			log.Warn("not watching the config; SIGHUP still reloads", "err", err)
		} else {
			defer w.Close()
			r.watcher = w
			changes = w.C()
		}
	}
	for done := false; !done; {
		select {
		case <-changes:
			r.apply(ctx, "file change", false)
		case <-hup:
			r.apply(ctx, "SIGHUP", true)
		case <-ctx.Done():
			done = true
		case <-up.handedOver():
			done = true
		}
	}
	grace := srv.Pipeline().Config.Server.GracefulTimeout.D()
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

// startCPUProfile starts writing a CPU profile to path; the returned
// function stops it and closes the file. bench/pgo.sh uses it to collect
// the profile the binary is built with.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// reloader applies config changes to a running server.
type reloader struct {
	path    string
	srv     *engine.Server
	log     *slog.Logger
	stderr  io.Writer
	watcher *reload.Watcher
	files   []string // the files of the config now serving
	hash    string   // their content hash when last loaded (valid or not)
}

// apply loads the config again and swaps it in. An unchanged file set does
// nothing unless forced (SIGHUP re-reads env() values too). An invalid
// config is reported like `pagi validate` and changes nothing.
func (r *reloader) apply(ctx context.Context, trigger string, force bool) {
	start := time.Now()
	hash, _ := reload.Hash(r.files)
	if !force && hash == r.hash {
		r.log.Debug("config files saved without changes", "trigger", trigger)
		return
	}
	r.hash = hash
	res := config.Load(r.path)
	if len(res.Diags) > 0 {
		_ = res.WriteText(r.stderr, colorFor(r.stderr))
	}
	if res.Diags.HasErrors() {
		r.log.Error("reload failed: the config has errors", "trigger", trigger,
			"errors", countErrors(res), "serving_generation", r.srv.Generation())
		return
	}
	rep, err := r.srv.Reload(ctx, res.Config)
	if err != nil {
		r.log.Error("reload failed", "trigger", trigger, "err", err, "serving_generation", r.srv.Generation())
		return
	}
	// Keep the hash taken before loading: a save made while this reload
	// ran must still look like a change (a different file set is hashed
	// again, at worst causing one reload with no changes).
	if !slices.Equal(r.files, res.Config.Files) {
		r.hash, _ = reload.Hash(res.Config.Files)
	}
	r.files = res.Config.Files
	if r.watcher != nil {
		if err := r.watcher.SetFiles(r.files); err != nil {
			r.log.Warn("cannot watch the new config's files", "err", err)
		}
	}
	changes := strings.Join(rep.Changes, ", ")
	if changes == "" {
		changes = "none"
	}
	r.log.Info("reloaded", "generation", rep.Generation, "took", time.Since(start).Round(time.Microsecond).String(),
		"trigger", trigger, "changes", changes)
}

func countErrors(res *config.Result) int {
	n := 0
	for _, d := range res.Diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
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
