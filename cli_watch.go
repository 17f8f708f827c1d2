package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/watch"
)

// cmdWatch anonymizes folders and keeps watching them (--watch): what is
// there first, then every image and video that arrives or changes, until
// SIGINT or SIGTERM, which end the run normally (exit 0, or 1 when a file's
// last outcome was a failure). Models and the model settings of the config
// reload while it runs (reload.watch), and on SIGHUP.
func cmdWatch(c *cli.Context, cfg Config, log *slog.Logger, stderr io.Writer) error {
	if cfg.Run.Jobs == 0 {
		cfg.Run.Jobs = runtime.NumCPU()
	}
	if cfg.Runtime.IntraOpThreads == 0 {
		cfg.Runtime.IntraOpThreads = max(1, runtime.NumCPU()/cfg.Run.Jobs)
	}
	if err := batch.GuardOutput(c.Args().Slice(), cfg.Output.Dir, cfg.Output.Overwrite); err != nil {
		if errors.Is(err, batch.ErrUsage) {
			return usageErr("%v", err)
		}
		return &exitError{exitSomeFailed, err}
	}
	det, err := loadDetector(cfg, log)
	if err != nil {
		return err
	}
	defer det.Close()
	stopReload := startReloader(c.Context, c, cfg, det, log)
	defer stopReload()

	results := map[string]batch.ImageResult{} // the last outcome of each input
	start := time.Now()
	sum, err := watch.Run(c.Context, det, c.Args().Slice(), cfg.Output.Dir, watch.Options{
		Options: batchOptions(cfg, det, log),
		Settle:  time.Duration(cfg.Watch.SettleMS) * time.Millisecond,
		// Per file: a model swapped in takes its own [detectors] style.
		Current: func() batch.Options { return batchOptions(cfg, det, log) },
		Report:  func(r batch.ImageResult) { results[r.Input] = r },
	})
	elapsed := time.Since(start)
	if err != nil {
		if errors.Is(err, batch.ErrUsage) {
			return usageErr("%v", err)
		}
		return &exitError{exitSomeFailed, err}
	}

	if path := c.String("json"); path != "" {
		list := make([]batch.ImageResult, 0, len(results))
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
func batchOptions(cfg Config, det *infer.Set, log *slog.Logger) batch.Options {
	hide, _ := cfg.hideOptions() // validated in settings
	return batch.Options{
		Format: cfg.Output.Format, JPEGQuality: cfg.Output.JPEGQuality, Overwrite: cfg.Output.Overwrite,
		Jobs: cfg.Run.Jobs, Hide: hide, HideBy: cfg.hideByModel(det),
		DropOnError: cfg.Video.OnError == "drop", Log: log, Video: cfg.videoOptions(det),
	}
}

// runReloader reloads models and config until ctx ends: on changes in the
// models folder and the config file when watch is set, and on each signal
// from sig (SIGHUP; a burst merges into one reload). startReloader sets it
// up for --watch and the live sources.
func runReloader(ctx context.Context, r *infer.Reloader, watch bool, sig <-chan os.Signal, log *slog.Logger) {
	hup := make(chan struct{}, 1) // one slot: requests arriving meanwhile merge
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case hup <- struct{}{}:
				default: // one already waiting: this one merges into it
				}
			}
		}
	}()
	if watch {
		err := r.Run(ctx, hup)
		if err == nil || ctx.Err() != nil {
			return
		}
		log.Warn("not watching models for changes; SIGHUP still reloads", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("reload requested (SIGHUP)")
			r.Reload()
		}
	}
}
