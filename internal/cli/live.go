package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/internal/app"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/video/live"
)

// cmdLive anonymizes a camera or stream (--camera, --stream) until it is
// stopped (SIGINT, SIGTERM) or, for a file played in real time, until the
// file ends: segment files under --out, optional JPEG frames and an MJPEG
// preview of the anonymized frames. The models are reloaded on SIGHUP and,
// with reload.watch, when the models folder or the config file changes.
//
// Exit codes: 0 stopped cleanly; 1 some segments could not be written or
// the run failed; 2 usage (no --out, a bad camera index, a camera that does
// not exist, a file that cannot be read, a preview address that cannot be
// bound, models that do not load).
func cmdLive(c *cli.Context, cfg config.Config, log *slog.Logger, env Env) error {
	stderr := env.Stderr
	ctx := c.Context
	if c.NArg() > 0 {
		return usageErr("--camera and --stream take no PATH arguments (got %q)", c.Args().First())
	}
	if c.Bool("watch") {
		return usageErr("--watch is for folders; it cannot be combined with --camera or --stream")
	}
	if c.IsSet("audit") || c.IsSet("json") {
		return usageErr("--audit is for images; live mode logs its counts every %v and prints a summary", app.LiveStatsEvery)
	}
	if cfg.Output.Dir == "" {
		return usageErr("live mode writes segment files: give --out DIR (or output.dir in the config)")
	}
	if err := app.CheckCodec(cfg); err != nil { // segments are encoded with it
		return exitFor(err)
	}
	// Open the source first: a camera that is not there is an error at
	// once, before the models load.
	in, err := openLiveInput(c, cfg, log)
	if err != nil {
		return err
	}
	defer in.Close()

	if err := os.MkdirAll(cfg.Output.Dir, 0o755); err != nil {
		return usageErr("--out: %v", err)
	}
	workers := 0 // one detection worker per core
	cfg.SizeWorkers(&workers, runtime.NumCPU())
	m, stopMetrics, err := startMetrics(cfg, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	set, err := loadDetector(cfg, log)
	if err != nil {
		return err
	}
	defer set.Close()
	m.Follow(set)

	var preview *live.Preview
	if cfg.Live.Preview != "" {
		if preview, err = live.StartPreview(cfg.Live.Preview, log); err != nil {
			return usageErr("%v", err)
		}
		defer preview.Close()
	}

	stopReload := startReloader(ctx, c, cfg, set, env.Reload, log)
	defer stopReload()

	res, err := app.RunLive(ctx, in, set, cfg, app.LiveOutputs{Dir: cfg.Output.Dir, Preview: preview, Workers: workers, Metrics: m}, log)
	if err != nil {
		return usageErr("%v", err)
	}
	preview.Close()
	if !c.Bool("quiet") {
		printLiveSummary(stderr, in.Name, res)
	}
	return liveErr(res, in.Name)
}

// printLiveSummary is the last line of a live run.
func printLiveSummary(w io.Writer, name string, res app.LiveResult) {
	ls, ss, st := res.Source, res.Sink, res.Pipeline
	fmt.Fprintf(w, "anonymize: live %s: %d frames captured, %d anonymized, %d in %d segment files", name, ls.Captured, ss.Frames, ss.InFiles, ss.Segments)
	if ss.SegmentErrors > 0 {
		fmt.Fprintf(w, " (%d segments lost)", ss.SegmentErrors)
	}
	if ss.JPEGs > 0 || ss.JPEGErrors > 0 {
		fmt.Fprintf(w, ", %d JPEG frames", ss.JPEGs)
	}
	fmt.Fprintf(w, "; %d dropped by the capture queue (detection behind)", ls.Dropped)
	if n := st.HiddenWhole + st.Dropped; n > 0 {
		fmt.Fprintf(w, ", %d hidden whole and %d dropped after a detector error or timeout", st.HiddenWhole, st.Dropped)
	}
	fmt.Fprintf(w, "; %d regions hidden; %d reconnects; %.1f s\n", st.Detections, ls.Reconnects, st.Elapsed.Seconds())
}
