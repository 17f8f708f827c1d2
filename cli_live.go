package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/live"
)

// Live mode tunables that are not settings.
const (
	// liveStatsEvery is how often the counts are logged while running.
	liveStatsEvery = 10 * time.Second
	// liveDrainGrace is how long frames already captured may take to be
	// detected and written after a stop was asked for; then they are
	// discarded (never written unhidden).
	liveDrainGrace = 5 * time.Second
	// cameraOpenTimeout bounds OpenCV's open of a camera device.
	cameraOpenTimeout = 10 * time.Second
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
func cmdLive(c *cli.Context, cfg Config, log *slog.Logger, stderr io.Writer) error {
	ctx := c.Context
	if c.NArg() > 0 {
		return usageErr("--camera and --stream take no PATH arguments (got %q)", c.Args().First())
	}
	if c.Bool("watch") {
		return usageErr("--watch is for folders; it cannot be combined with --camera or --stream")
	}
	if c.IsSet("json") {
		return usageErr("--json is for images; live mode logs its counts every %v and prints a summary", liveStatsEvery)
	}
	if cfg.Output.Dir == "" {
		return usageErr("live mode writes segment files: give --out DIR (or output.dir in the config)")
	}
	// Open the source first: a camera that is not there is an error at
	// once, before the models load.
	in, err := openLiveInput(c, cfg, log)
	if err != nil {
		return err
	}
	defer in.close()

	if err := os.MkdirAll(cfg.Output.Dir, 0o755); err != nil {
		return usageErr("--out: %v", err)
	}
	workers := runtime.NumCPU()
	if cfg.Runtime.IntraOpThreads == 0 {
		cfg.Runtime.IntraOpThreads = max(1, runtime.NumCPU()/workers)
	}
	set, err := loadDetector(cfg, log)
	if err != nil {
		return err
	}
	defer set.Close()

	var preview *live.Preview
	if cfg.Live.Preview != "" {
		if preview, err = live.StartPreview(cfg.Live.Preview, log); err != nil {
			return usageErr("%v", err)
		}
		defer preview.Close()
	}

	stopReload := startReloader(ctx, c, cfg, set, log)
	defer stopReload()

	res, err := runLive(ctx, in, set, cfg, liveOutputs{Dir: cfg.Output.Dir, Preview: preview, Workers: workers}, log)
	if err != nil {
		return usageErr("%v", err)
	}
	preview.Close()
	ls, ss, st := res.Source, res.Sink, res.Pipeline

	if !c.Bool("quiet") {
		fmt.Fprintf(stderr, "anonymize: live %s: %d frames captured, %d written to %d segment files", in.name, ls.Captured, ss.Frames, ss.Segments)
		if ss.SegmentErrors > 0 {
			fmt.Fprintf(stderr, " (%d segments lost)", ss.SegmentErrors)
		}
		if ss.JPEGs > 0 || ss.JPEGErrors > 0 {
			fmt.Fprintf(stderr, ", %d JPEG frames", ss.JPEGs)
		}
		fmt.Fprintf(stderr, "; %d dropped by the capture queue (detection behind)", ls.Dropped)
		if n := st.HiddenWhole + st.Dropped; n > 0 {
			fmt.Fprintf(stderr, ", %d hidden whole and %d dropped after a detector error or timeout", st.HiddenWhole, st.Dropped)
		}
		fmt.Fprintf(stderr, "; %d regions hidden; %d reconnects; %.1f s\n", st.Detections, ls.Reconnects, st.Elapsed.Seconds())
	}
	return res.err(in.name)
}

// liveInput is a live source named on the command line (--camera,
// --stream), opened but not yet started.
type liveInput struct {
	name  string
	first live.Capture // opened at once (a camera, a file); nil for a URL
	open  live.Opener
	lo    live.Options
}

// openLiveInput opens --camera or --stream: a camera that is not there, or
// a file that cannot be read, is a usage error at once. A stream URL is
// only opened when the run starts (and retried while it is not up).
func openLiveInput(c *cli.Context, cfg Config, log *slog.Logger) (*liveInput, error) {
	in := &liveInput{lo: live.Options{ReconnectMax: time.Duration(cfg.Live.ReconnectMaxSeconds) * time.Second, Log: log}}
	switch {
	case c.IsSet("camera"):
		idx, err := strconv.Atoi(c.String("camera"))
		if err != nil || idx < 0 {
			return nil, usageErr("--camera %q: want a device index (0, 1, ...)", c.String("camera"))
		}
		in.name = fmt.Sprintf("camera %d", idx)
		if in.first, err = live.OpenCamera(idx, cameraOpenTimeout); err != nil {
			return nil, usageErr("%v", err)
		}
		in.open = func() (live.Capture, error) { return live.OpenCamera(idx, cameraOpenTimeout) }
	default:
		src := c.String("stream")
		in.name = live.Redact(src)
		if live.IsStreamURL(src) {
			// A live system: a stream that is not up yet is retried.
			in.open = func() (live.Capture, error) { return live.OpenStream(src) }
			break
		}
		if st, err := os.Stat(src); err != nil {
			return nil, usageErr("--stream %s: %v", src, err)
		} else if st.IsDir() {
			return nil, usageErr("--stream %s: a folder (give a video file, or a URL)", src)
		}
		var err error
		if in.first, err = live.OpenStream(src); err != nil {
			return nil, usageErr("--stream: %v", err)
		}
		in.lo.RealTime = true // a file plays as if live, and ends the run when it ends
	}
	in.lo.Name = in.name
	return in, nil
}

// close closes the capture opened at once if the run never took it.
func (in *liveInput) close() {
	if in != nil && in.first != nil {
		in.first.Close()
		in.first = nil
	}
}

// liveOutputs are where a live run's anonymized frames go.
type liveOutputs struct {
	// Dir receives segment files (and JPEG frames); "" for none: the
	// frames then go only to Preview.
	Dir string
	// Preview, when set, is shown every frame.
	Preview *live.Preview
	// Workers run detection in parallel.
	Workers int
}

// liveSink is a SegmentSink or a PreviewSink.
type liveSink interface {
	video.Sink
	Stats() live.SegmentStats
}

// liveResult is how a live run went.
type liveResult struct {
	Source   live.Stats
	Sink     live.SegmentStats
	Pipeline video.PipelineStats
	// PipeErr and SinkErr are the pipeline's and the sink's errors.
	PipeErr, SinkErr error
}

// err is the run's error, for an exit code.
func (r liveResult) err(name string) error {
	if r.PipeErr != nil && !errors.Is(r.PipeErr, context.Canceled) {
		return &exitError{exitSomeFailed, fmt.Errorf("live %s: %w", name, r.PipeErr)}
	}
	if r.SinkErr != nil {
		return &exitError{exitSomeFailed, r.SinkErr}
	}
	return nil
}

// runLive captures in, anonymizes each frame with set (cfg's hiding) and
// writes it to out, until ctx ends (or a file played in real time ends).
// It takes in's open capture. The error is a setup error (the sink could
// not be made); how the run went is in the result. Live mode and the
// service (serve --camera/--stream) run it.
func runLive(ctx context.Context, in *liveInput, set *infer.Set, cfg Config, out liveOutputs, log *slog.Logger) (liveResult, error) {
	hide, _ := cfg.hideOptions() // validated in settings
	workers := max(1, out.Workers)
	first := in.first
	in.first = nil // the source owns it now
	src := live.Start(ctx, first, in.open, in.lo)
	var sink liveSink
	if out.Dir != "" {
		seg, err := live.NewSegmentSink(live.SegmentOptions{
			Dir: out.Dir, Length: time.Duration(cfg.Live.SegmentSeconds) * time.Second,
			FPS: src.FPS, Start: src.Start(),
			Encode:    ffmpeg.EncodeOptions{Codec: cfg.Video.Codec, Preset: cfg.Live.Preset, CRF: cfg.Video.CRF},
			JPEGEvery: cfg.Live.JPEGEvery, JPEGQuality: cfg.Output.JPEGQuality,
			Preview: out.Preview, Log: log,
		})
		if err != nil {
			src.Close()
			return liveResult{}, err
		}
		sink = seg
		log.Info("live: anonymizing", "source", in.name, "out", out.Dir,
			"segment", time.Duration(cfg.Live.SegmentSeconds)*time.Second, "models", set.ForVideo().Info().Name)
	} else {
		sink = live.NewPreviewSink(out.Preview)
		log.Info("live: anonymizing (live view only, no files)", "source", in.name, "models", set.ForVideo().Info().Name)
	}

	// The source stops with ctx (Read then returns io.EOF) and the frames
	// already captured go on to the sink; if they take longer than
	// liveDrainGrace, the pipeline is stopped and they are discarded.
	pipeCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipe()
	pipeDone := make(chan struct{})
	go func() {
		select {
		case <-pipeDone:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(liveDrainGrace)
		defer t.Stop()
		select {
		case <-pipeDone:
		case <-t.C:
			log.Warn("live: frames still in flight after the stop; discarding them", "after", liveDrainGrace)
			stopPipe()
		}
	}()
	statsDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(liveStatsEvery)
		defer tick.Stop()
		for {
			select {
			case <-statsDone:
				return
			case <-tick.C:
				ls, ss := src.Stats(), sink.Stats()
				log.Info("live", "captured", ls.Captured, "dropped_queue", ls.Dropped, "written", ss.Frames,
					"hidden_whole", ss.HiddenWhole, "segments", ss.Segments, "reconnects", ls.Reconnects)
			}
		}
	}()

	st, perr := video.RunPipeline(pipeCtx, src, set.ForVideo(), sink, video.PipelineOptions{
		Workers: workers, Queue: workers, Hide: hide, HideBy: cfg.hideByModel(set),
		Persist: cfg.Video.PersistFrames, Lookahead: 0,
		DropOnError: cfg.Video.OnError == "drop",
		Timeout:     time.Duration(cfg.Video.TimeoutMS) * time.Millisecond,
	})
	close(pipeDone)
	close(statsDone)
	serr := sink.Close() // finalise the open segment first: it must play
	if err := src.Close(); err != nil {
		log.Warn("live", "err", err)
	}
	return liveResult{Source: src.Stats(), Sink: sink.Stats(), Pipeline: st, PipeErr: perr, SinkErr: serr}, nil
}

// startReloader reloads the models on SIGHUP and, with reload.watch, when
// the models folder or the config file changes; each reload re-reads the
// config with the flags over it. Bursts of SIGHUP merge into one reload (a
// one-slot channel); main turns only SIGINT and SIGTERM into the end of
// ctx. The returned func stops it and waits for it. Live mode and --watch
// use it.
func startReloader(ctx context.Context, c *cli.Context, cfg Config, set *infer.Set, log *slog.Logger) (stop func()) {
	r := &infer.Reloader{
		Set: set, ModelsDir: cfg.ModelsDir, AdoptNew: cfg.Reload.AdoptNew,
		Debounce: time.Duration(cfg.Reload.DebounceMS) * time.Millisecond, Log: log,
		Specs: func() ([]infer.Spec, error) {
			cfg, err := settings(c)
			if err != nil {
				return nil, err
			}
			return cfg.specs(), nil
		},
	}
	if cfg.file != "" {
		r.Files = []string{cfg.file}
	}
	r.Start()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runReloader(ctx, r, cfg.Reload.Watch, hup, log)
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		wg.Wait()
	}
}
