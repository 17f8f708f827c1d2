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
// file changes; each reload asks specs for what to run now (the config read
// again, with the run's flags over it). The returned func stops it and
// waits for it. Live mode, --watch and serve use it.
func StartReloader(ctx context.Context, cfg config.Config, set *infer.Set, reload <-chan struct{}, specs func() ([]infer.Spec, error), log *slog.Logger) (stop func()) {
	r := &infer.Reloader{
		Set: set, ModelsDir: cfg.ModelsDir, AdoptNew: cfg.Reload.AdoptNew,
		Debounce: time.Duration(cfg.Reload.DebounceMS) * time.Millisecond, Log: log,
		Specs: specs,
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
