package cli

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/internal/app"
	"github.com/anonymize/anonymize/internal/config"
)

// cmdWatch anonymizes folders and keeps watching them (--watch): what is
// there first, then every image and video that arrives or changes, until
// SIGINT or SIGTERM, which end the run normally (exit 0, or 1 when a file's
// last outcome was a failure). Models and the model settings of the config
// reload while it runs (reload.watch), and on SIGHUP.
func cmdWatch(c *cli.Context, cfg config.Config, log *slog.Logger, env Env) error {
	stderr := env.Stderr
	cfg.SizeWorkers(&cfg.Run.Jobs, runtime.NumCPU())
	if err := app.GuardOutput(c.Args().Slice(), cfg); err != nil {
		return exitFor(err)
	}
	if err := app.CheckCodec(cfg); err != nil { // a video may arrive at any time
		return exitFor(err)
	}
	m, stopMetrics, err := startMetrics(cfg, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	det, err := loadDetector(cfg, log)
	if err != nil {
		return err
	}
	defer det.Close()
	m.Follow(det)
	stopReload := startReloader(c.Context, c, cfg, det, env.Reload, log)
	defer stopReload()

	start := time.Now()
	sum, err := app.Watch(c.Context, det, c.Args().Slice(), cfg, app.FolderOptions{Audit: auditPath(c, log), Version: version, Log: log, Metrics: m})
	elapsed := time.Since(start)
	if err != nil {
		return exitFor(err)
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
