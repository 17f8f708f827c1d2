package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/app"
	"github.com/anonymize/anonymize/internal/config"
)

// The commands' glue to internal/app: flags in, exit codes out.

// exitFor gives an error of internal/app its exit code: a setup error (a
// model, a source, a destination that cannot be used) exits 2, a run that
// went wrong 1.
func exitFor(err error) error {
	if err == nil {
		return nil
	}
	var se *app.SetupError
	if errors.As(err, &se) {
		return &exitError{exitUsage, err}
	}
	return &exitError{exitSomeFailed, err}
}

// loadDetector loads the configured models (app.LoadDetector).
func loadDetector(cfg config.Config, log *slog.Logger) (*infer.Set, error) {
	set, err := app.LoadDetector(cfg, log)
	return set, exitFor(err)
}

// startReloader starts the reloader of set; each reload reads the config
// again with this run's flags over it.
func startReloader(ctx context.Context, c *cli.Context, cfg config.Config, set *infer.Set, reload <-chan struct{}, log *slog.Logger) (stop func()) {
	load := func() (config.Config, error) { return settings(c) }
	return app.StartReloader(ctx, cfg, set, reload, load, log)
}

// openLiveInput opens the source of --camera or --stream.
func openLiveInput(c *cli.Context, cfg config.Config, log *slog.Logger) (*app.LiveInput, error) {
	in, err := app.OpenLive(c.String("camera"), c.String("stream"), cfg, log)
	return in, exitFor(err)
}

// liveErr is the exit of a live run that ended: 1 when it failed.
func liveErr(res app.LiveResult, name string) error {
	if err := res.Err(name); err != nil {
		return &exitError{exitSomeFailed, err}
	}
	if res.Source.Captured == 0 {
		// Stopped before the source ever gave a frame (it never opened, say):
		// nothing was anonymized, which a supervisor must be able to see.
		return &exitError{exitSomeFailed, fmt.Errorf("live %s: no frame was captured", name)}
	}
	return nil
}

// auditPath is the audit record's file: --audit, or the deprecated --json
// (which says so).
func auditPath(c *cli.Context, log *slog.Logger) string {
	if c.IsSet("json") && !c.IsSet("audit") {
		log.Warn("--json is deprecated and will be removed in the next release: use --audit FILE")
		return c.String("json")
	}
	return c.String("audit")
}
