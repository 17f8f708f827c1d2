package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/internal/app"
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
		BatchOptions: app.BatchOptions(cfg, det, log),
		Settle:       time.Duration(cfg.Watch.SettleMS) * time.Millisecond,
		// Per file: a model swapped in takes its own [detectors] style.
		Current: func() video.BatchOptions { return app.BatchOptions(cfg, det, log) },
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
		if err := app.WriteAudit(path, version, det.Info(), list, sum, elapsed); err != nil {
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
