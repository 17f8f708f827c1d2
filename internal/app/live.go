package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/metrics"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/live"
)

// Live mode tunables that are not settings.
const (
	// LiveStatsEvery is how often a live run logs its counts.
	LiveStatsEvery = 10 * time.Second
	// liveDrainGrace is how long frames already captured may take to be
	// detected and written after a stop was asked for; then they are
	// discarded (never written unhidden).
	liveDrainGrace = 5 * time.Second
	// cameraOpenTimeout bounds OpenCV's open of a camera device.
	cameraOpenTimeout = 10 * time.Second
)

// LiveInput is a live source (a camera or a stream), opened but not yet
// started.
type LiveInput struct {
	Name  string       // for logs: the camera, or the URL without its password
	first live.Capture // opened at once (a camera, a file); nil for a URL
	open  live.Opener
	lo    live.Options
}

// OpenLive opens a live source: camera, an OpenCV device index, when not
// empty, else stream, a URL or a file played in real time. A camera that is
// not there, or a file that cannot be read, is a *SetupError at once. A
// stream URL is only opened when the run starts (and retried while it is
// not up).
func OpenLive(camera, stream string, cfg config.Config, log *slog.Logger) (*LiveInput, error) {
	in := &LiveInput{lo: live.Options{ReconnectMax: time.Duration(cfg.Live.ReconnectMaxSeconds) * time.Second, MaxPixels: cfg.MaxPixels, Log: log}}
	switch {
	case camera != "":
		idx, err := strconv.Atoi(camera)
		if err != nil || idx < 0 {
			return nil, setupErr("--camera %q: want a device index (0, 1, ...)", camera)
		}
		in.Name = fmt.Sprintf("camera %d", idx)
		if in.first, err = live.OpenCamera(idx, cameraOpenTimeout); err != nil {
			return nil, setupErr("%v", err)
		}
		if err := live.CheckSize(in.first, in.Name, cfg.MaxPixels); err != nil {
			in.Close()
			return nil, setupErr("%v", err)
		}
		in.open = func() (live.Capture, error) { return live.OpenCamera(idx, cameraOpenTimeout) }
	default:
		src := stream
		in.Name = live.Redact(src)
		if live.IsStreamURL(src) {
			// A live system: a stream that is not up yet is retried.
			in.open = func() (live.Capture, error) { return live.OpenStream(src) }
			break
		}
		if st, err := os.Stat(src); err != nil {
			return nil, setupErr("--stream %s: %v", src, err)
		} else if st.IsDir() {
			return nil, setupErr("--stream %s: a folder (give a video file, or a URL)", src)
		}
		var err error
		if in.first, err = live.OpenStream(src); err != nil {
			return nil, setupErr("--stream: %v", err)
		}
		if err := live.CheckSize(in.first, in.Name, cfg.MaxPixels); err != nil {
			in.Close()
			return nil, setupErr("--stream: %v", err)
		}
		in.lo.RealTime = true // a file plays as if live, and ends the run when it ends
	}
	in.lo.Name = in.Name
	return in, nil
}

// Close closes the capture opened at once if the run never took it.
func (in *LiveInput) Close() {
	if in != nil && in.first != nil {
		in.first.Close()
		in.first = nil
	}
}

// LiveOutputs are where a live run's anonymized frames go.
type LiveOutputs struct {
	// Dir receives segment files (and JPEG frames); "" for none: the
	// frames then go only to Preview.
	Dir string
	// Preview, when set, is shown every frame.
	Preview *live.Preview
	// Workers run detection in parallel.
	Workers int
	// Metrics, when set, shows the run's counts and detector latency, and
	// is ready while the source is connected.
	Metrics *metrics.Run
}

// liveSink is a SegmentSink or a PreviewSink.
type liveSink interface {
	video.Sink
	Stats() live.SegmentStats
}

// LiveResult is how a live run went.
type LiveResult struct {
	Source   live.Stats
	Sink     live.SegmentStats
	Pipeline video.PipelineStats
	// PipeErr and SinkErr are the pipeline's and the sink's errors.
	PipeErr, SinkErr error
}

// Err is how the run failed, if it did: the pipeline's error (a stop
// asked for is none), else the sink's.
func (r LiveResult) Err(name string) error {
	if r.PipeErr != nil && !errors.Is(r.PipeErr, context.Canceled) {
		return fmt.Errorf("live %s: %w", name, r.PipeErr)
	}
	return r.SinkErr
}

// RunLive captures in, anonymizes each frame with set (cfg's hiding) and
// writes it to out, until ctx ends (or a file played in real time ends).
// It takes in's open capture. The error is a setup error (the sink could
// not be made); how the run went is in the result. Live mode and the
// service (serve --camera/--stream) run it.
func RunLive(ctx context.Context, in *LiveInput, set *infer.Set, cfg config.Config, out LiveOutputs, log *slog.Logger) (LiveResult, error) {
	hide, _ := cfg.HideOptions() // validated in settings
	workers := max(1, out.Workers)
	first := in.first
	in.first = nil // the source owns it now
	src := live.Start(ctx, first, in.open, in.lo)
	sink, err := openLiveSink(src, in.Name, set, cfg, out, log)
	if err != nil {
		src.Close()
		return LiveResult{}, err
	}

	// The source stops with ctx (Read then returns io.EOF) and the frames
	// already captured go on to the sink; if they take longer than
	// liveDrainGrace, the pipeline is stopped and they are discarded.
	pipeCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipe()
	pipeDone := make(chan struct{})
	go drainOrStop(ctx, pipeDone, stopPipe, log)
	go logLiveStats(pipeDone, src, sink, log)

	var dropped atomic.Int64 // after a detector failure
	unobserve := observeLive(out.Metrics, in.Name, src, sink, &dropped)
	defer unobserve()
	// Frames are detected as video files are (video.Schedule): shrunk to
	// detect_max_side, plus a full-size tile in rotation whose faces the
	// tracker keeps until the tile comes round again.
	det := out.Metrics.Timed(video.NewSchedule(set.ForVideo(), cfg.Video.DetectMaxSide, cfg.Video.TileSide))
	st, perr := video.RunPipeline(pipeCtx, src, det, sink, video.PipelineOptions{
		Workers: workers, Queue: workers, Hide: hide,
		Persist: cfg.Video.PersistFrames, Lookahead: 0,
		DropOnError: cfg.Video.OnError == "drop",
		Timeout:     time.Duration(cfg.Video.TimeoutMS) * time.Millisecond,
		OnDrop:      func() { dropped.Add(1) },
	})
	close(pipeDone)
	serr := sink.Close() // finalise the open segment first: it must play
	if err := src.Close(); err != nil {
		log.Warn("live", "err", err)
	}
	return LiveResult{Source: src.Stats(), Sink: sink.Stats(), Pipeline: st, PipeErr: perr, SinkErr: serr}, nil
}

// openLiveSink is where a live run's frames go: segment files (and the
// preview) under out.Dir, or the preview alone.
func openLiveSink(src *live.Source, name string, set *infer.Set, cfg config.Config, out LiveOutputs, log *slog.Logger) (liveSink, error) {
	if out.Dir == "" {
		log.Info("live: anonymizing (live view only, no files)", "source", name, "models", set.ForVideo().Info().Name)
		return live.NewPreviewSink(out.Preview), nil
	}
	// Segments and frames a killed run was writing.
	batch.RemoveStaleTemps([]string{out.Dir, filepath.Join(out.Dir, "frames")}, batch.StaleTempAge, log)
	seg, err := live.NewSegmentSink(live.SegmentOptions{
		Dir: out.Dir, Length: time.Duration(cfg.Live.SegmentSeconds) * time.Second,
		FPS: src.FPS, Start: src.Start(),
		Encode:    ffmpeg.EncodeOptions{Codec: cfg.Video.Codec, Preset: cfg.Live.Preset, CRF: cfg.Video.CRF},
		JPEGEvery: cfg.Live.JPEGEvery, JPEGQuality: cfg.Output.JPEGQuality,
		Preview: out.Preview, Log: log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("live: anonymizing", "source", name, "out", out.Dir,
		"segment", time.Duration(cfg.Live.SegmentSeconds)*time.Second, "models", set.ForVideo().Info().Name)
	return seg, nil
}

// drainOrStop gives the frames in flight liveDrainGrace after ctx ends to
// reach the sink (done closes when they have), then stops the pipeline.
func drainOrStop(ctx context.Context, done <-chan struct{}, stop func(), log *slog.Logger) {
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(liveDrainGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn("live: frames still in flight after the stop; discarding them", "after", liveDrainGrace)
		stop()
	}
}

// logLiveStats logs the live counts every LiveStatsEvery until done closes.
func logLiveStats(done <-chan struct{}, src *live.Source, sink liveSink, log *slog.Logger) {
	tick := time.NewTicker(LiveStatsEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			ls, ss := src.Stats(), sink.Stats()
			log.Info("live", "captured", ls.Captured, "dropped_queue", ls.Dropped, "anonymized", ss.Frames, "in_files", ss.InFiles,
				"hidden_whole", ss.HiddenWhole, "segments", ss.Segments, "reconnects", ls.Reconnects)
		}
	}
}

// observeLive shows a live run's counts in m (nil: none) and makes m ready
// while src is connected; the returned func keeps the last counts and
// makes m not ready.
func observeLive(m *metrics.Run, name string, src *live.Source, sink liveSink, dropped *atomic.Int64) (stop func()) {
	detach := m.Attach(func() metrics.Counts {
		ls, ss := src.Stats(), sink.Stats()
		return metrics.Counts{FramesIn: ls.Captured, FramesOut: ss.Frames, HiddenWhole: ss.HiddenWhole,
			DroppedQueue: ls.Dropped, DroppedDetector: dropped.Load(), Reconnects: ls.Reconnects}
	})
	m.SetReady(func() (bool, string) {
		if src.Connected() {
			return true, ""
		}
		return false, fmt.Sprintf("live source %s is not connected (opening or reconnecting)", name)
	})
	return func() {
		detach()
		m.SetReady(func() (bool, string) { return false, fmt.Sprintf("live run of %s has stopped", name) })
	}
}
