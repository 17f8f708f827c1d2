package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/anonymize/anonymize/internal/app"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

// cmdAnonymize is the top-level command: a folder run over PATHs, or, with
// --watch, --camera or --stream, a watch or a live run. Exit codes: 0 all
// done; 1 some inputs failed (each named on stderr), the rest written; 2
// usage, config or model error; 130 interrupted.
func cmdAnonymize(c *cli.Context, env Env) error {
	stderr := env.Stderr
	if c.NArg() > 0 && mistypedCommand(c.Args().First(), c.App.Commands) {
		return unknownCommand(c.Args().First(), "", c.App.Commands)
	}
	cfg, err := settings(c)
	if err != nil {
		return err
	}
	quiet := c.Bool("quiet")
	log := newLogger(stderr, quiet, logOptionsOf(c))
	logConfig(log, cfg)
	if (c.IsSet("shard") || cfg.Run.Shards > 1) && (c.Bool("watch") || c.IsSet("camera") || c.IsSet("stream")) {
		return usageErr("--shard (run.shards) splits a folder run; it does not apply to --watch, --camera or --stream")
	}
	if c.IsSet("camera") || c.IsSet("stream") {
		if c.IsSet("camera") && c.IsSet("stream") {
			return usageErr("--camera and --stream are exclusive")
		}
		return cmdLive(c, cfg, log, env)
	}
	if c.NArg() == 0 {
		cli.ShowAppHelp(c)
		return &exitError{exitUsage, errors.New("no input paths given")}
	}
	if c.Bool("watch") {
		return cmdWatch(c, cfg, log, env)
	}
	if c.IsSet("metrics") {
		return usageErr("--metrics is for the long-running modes (--watch, --camera, --stream); serve has /metrics on its --listen address")
	}

	return cmdFolder(c, cfg, log, env)
}

// cmdFolder is a folder run over PATHs: plan, load the models, anonymize
// with a progress bar on a terminal, then the summary.
func cmdFolder(c *cli.Context, cfg config.Config, log *slog.Logger, env Env) error {
	plan, err := app.PlanFolder(c.Args().Slice(), cfg)
	if err != nil {
		return exitFor(err)
	}
	cfg.SizeWorkers(&cfg.Run.Jobs, runtime.NumCPU())
	det, err := loadDetector(cfg, log)
	if err != nil {
		return err
	}
	defer det.Close()

	opts := app.FolderOptions{Audit: auditPath(c, log), Version: version, Log: log}
	quiet := c.Bool("quiet")
	finish := func() {}
	if !quiet && isTerminal(env.Stderr) {
		finish = progress(env.Stderr, plan, &opts)
	}
	start := time.Now()
	sum := app.RunFolder(c.Context, det, plan, cfg, opts)
	finish()
	if !quiet {
		printSummary(env.Stderr, sum, plan, time.Since(start))
	}
	if c.Context.Err() != nil {
		return &exitError{exitInterrupted, errors.New("interrupted: images not yet started were not written")}
	}
	if sum.Problems() > 0 {
		return &exitError{exitSomeFailed, nil}
	}
	return nil
}

// progress sets o up to show a run's progress on a terminal: frames for
// videos, images otherwise. The returned func finishes the bar.
func progress(w io.Writer, plan app.Plan, o *app.FolderOptions) (finish func()) {
	if videos := plan.Videos(); videos > 0 {
		fbar := &frameBar{w: w, videos: videos}
		o.FrameProgress = fbar.update
		return fbar.finish
	}
	if len(plan.Tasks) < 2 {
		return func() {}
	}
	bar := progressbar.NewOptions(len(plan.Tasks), progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("anonymizing"), progressbar.OptionShowCount(),
		progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"),
		progressbar.OptionClearOnFinish())
	o.Progress = func() { bar.Add(1) }
	return func() { bar.Finish() }
}

// printSummary is the last line of a folder run; a shard of a split run
// says how many files it took and how many it left to the others.
func printSummary(w io.Writer, sum batch.Summary, plan app.Plan, elapsed time.Duration) {
	fmt.Fprintf(w, "anonymize: %d written, %d skipped (output exists), %d failed", sum.Done, sum.Skipped, sum.Failed)
	if sum.HiddenWhole+sum.Dropped > 0 {
		fmt.Fprintf(w, ", %d hidden whole after a detector error", sum.HiddenWhole+sum.Dropped)
	}
	if sum.Videos > 0 {
		fmt.Fprintf(w, "; %d videos, %d frames written", sum.Videos, sum.Frames)
		if n := sum.FramesHiddenWhole + sum.FramesDropped; n > 0 {
			fmt.Fprintf(w, " (%d frames hidden whole or dropped after a detector error)", n)
		}
	}
	fmt.Fprintf(w, "; %d regions hidden; %d other files ignored", sum.Hidden, sum.NotProcessed)
	if plan.Shards > 1 {
		fmt.Fprintf(w, "; shard %d/%d: took %d of %d files, left %d to the other shards", plan.Shard, plan.Shards, len(plan.Tasks), len(plan.Tasks)+plan.Left, plan.Left)
	}
	fmt.Fprintf(w, "; %.1f s\n", elapsed.Seconds())
}
