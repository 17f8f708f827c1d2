package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
)

// StartReloader reloads the models of set on each request from reload
// (SIGHUP) and, with reload.watch, when the models folder or the config
// file changes; each reload runs what load says now (the config read again,
// with the run's flags over it), and a model folder adopted meanwhile runs
// with its own settings from that config. The returned func stops it and
// waits for it. Live mode, --watch and serve use it.
func StartReloader(ctx context.Context, cfg config.Config, set *infer.Set, reload <-chan struct{}, load func() (config.Config, error), log *slog.Logger) (stop func()) {
	current := cfg // the config of the reload in progress (one at a time)
	specs := func() ([]infer.Spec, error) {
		c, err := load()
		if err != nil {
			return nil, err
		}
		if c.ModelsDir != cfg.ModelsDir { // read at start only: it is the folder watched
			log.Warn("reload: models_dir changed in the config; it applies at the next start", "models_dir", cfg.ModelsDir, "new", c.ModelsDir)
			c.ModelsDir = cfg.ModelsDir
		}
		current = c
		return c.Specs(), nil
	}
	r := &infer.Reloader{
		Set: set, ModelsDir: cfg.ModelsDir, AdoptNew: cfg.Reload.AdoptNew, Replace: cfg.Reload.Adopt == "replace",
		Debounce: time.Duration(cfg.Reload.DebounceMS) * time.Millisecond, Log: log,
		Specs: specs, SpecFor: func(dir string) infer.Spec { return current.SpecFor(dir) },
	}
	if cfg.File() != "" {
		r.Files = []string{cfg.File()}
	}
	r.Start()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runReloader(ctx, r, cfg.Reload.Watch, reload, log)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// runReloader reloads models and config until ctx ends: on changes in the
// models folder and the config file when watch is set, and on each request
// from reload (SIGHUP; main merges a burst into one request).
func runReloader(ctx context.Context, r *infer.Reloader, watch bool, reload <-chan struct{}, log *slog.Logger) {
	if watch {
		err := r.Run(ctx, reload)
		if err == nil || ctx.Err() != nil {
			return
		}
		log.Warn("not watching models for changes; SIGHUP still reloads", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			log.Info("reload requested (SIGHUP)")
			r.Reload()
		}
	}
}
