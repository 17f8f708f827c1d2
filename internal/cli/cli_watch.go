package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/video"
)

// cmdWatch anonymizes folders and keeps watching them (--watch): what is
// there first, then every image and video that arrives or changes, until
// SIGINT or SIGTERM, which end the run normally (exit 0, or 1 when a file's
// last outcome was a failure). Models and the model settings of the config
// reload while it runs (reload.watch), and on SIGHUP.
func cmdWatch(c *cli.Context, cfg config.Config, log *slog.Logger, env Env) error {
	stderr := env.Stderr
	cfg.SizeWorkers(&cfg.Run.Jobs, runtime.NumCPU())
	if err := video.GuardOutput(c.Args().Slice(), cfg.Output.Dir, cfg.Output.Overwrite); err != nil {
		if errors.Is(err, video.ErrUsage) {
			return usageErr("%v", err)
		}
		return &exitError{exitSomeFailed, err}
	}
	det, err := loadDetector(cfg, log)
	if err != nil {
		return err
	}
	defer det.Close()
	stopReload := startReloader(c.Context, c, cfg, det, env.Reload, log)
	defer stopReload()

	results := map[string]video.ImageResult{} // the last outcome of each input
	start := time.Now()
	sum, err := video.Watch(c.Context, det, c.Args().Slice(), cfg.Output.Dir, video.WatchOptions{
		BatchOptions: batchOptions(cfg, det, log),
		Settle:       time.Duration(cfg.Watch.SettleMS) * time.Millisecond,
		// Per file: a model swapped in takes its own [detectors] style.
		Current: func() video.BatchOptions { return batchOptions(cfg, det, log) },
		Report:  func(r video.ImageResult) { results[r.Input] = r },
	})
	elapsed := time.Since(start)
	if err != nil {
		if errors.Is(err, video.ErrUsage) {
			return usageErr("%v", err)
		}
		return &exitError{exitSomeFailed, err}
	}

	if path := c.String("json"); path != "" {
		list := make([]video.ImageResult, 0, len(results))
		for _, r := range results {
			list = append(list, r)
		}
		if err := writeAudit(path, det.Info(), list, sum, elapsed); err != nil {
			log.Error("cannot write audit record", "file", path, "err", err)
			sum.Failed++
		}
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(stderr, "anonymize: watch stopped: %d written, %d skipped (up to date), %d failed", sum.Done, sum.Skipped, sum.Failed)
		if sum.HiddenWhole+sum.Dropped > 0 {
			fmt.Fprintf(stderr, ", %d hidden whole or dropped after a detector error", sum.HiddenWhole+sum.Dropped)
		}
		fmt.Fprintf(stderr, "; %d regions hidden; %d other files ignored; %.1f s\n", sum.Hidden, sum.NotProcessed, elapsed.Seconds())
	}
	if sum.Problems() > 0 {
		return &exitError{exitSomeFailed, nil}
	}
	return nil
}

// batchOptions are the options each file of a folder run or a watch is
// anonymized with (one builder, so both modes stay in step).
func batchOptions(cfg config.Config, det *infer.Set, log *slog.Logger) video.BatchOptions {
	hide, _ := cfg.HideOptions() // validated in settings
	return video.BatchOptions{
		Format: cfg.Output.Format, JPEGQuality: cfg.Output.JPEGQuality, Overwrite: cfg.Output.Overwrite,
		Jobs: cfg.Run.Jobs, Hide: hide, HideBy: cfg.HideByModel(det),
		DropOnError: cfg.Video.OnError == "drop", Log: log, Video: videoOptions(cfg, det),
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
