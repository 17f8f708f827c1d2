package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/metrics"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/watch"
)

// Plan is what a folder run will do: a task per image or video, and the
// other files it leaves alone.
type Plan struct {
	Tasks []batch.Task
	Other []string
	// Shard of Shards is this worker's part of a split run (1 of 1: the
	// whole run); Left counts the tasks left to the other shards.
	Shard, Shards, Left int
}

// Videos is how many of the tasks are videos.
func (p Plan) Videos() int {
	n := 0
	for _, t := range p.Tasks {
		if t.IsVideo() {
			n++
		}
	}
	return n
}

// PlanFolder lists the work for paths under cfg's output settings and
// checks the destination: an output folder that would replace an input is
// a *SetupError, and so is a video.codec ffmpeg lacks when there are videos.
//
// A run split into shards (config.Shard) keeps only this shard's tasks
// (batch.Split); the shard that cannot be known is a *SetupError.
func PlanFolder(paths []string, cfg config.Config) (Plan, error) {
	k, n, err := cfg.Shard()
	if err != nil {
		return Plan{}, &SetupError{err}
	}
	tasks, other, err := batch.Plan(paths, cfg.Output.Dir, cfg.Output.Format)
	if err == nil {
		err = GuardOutput(paths, cfg)
	}
	plan := Plan{Other: other, Shard: k, Shards: n}
	plan.Tasks, plan.Left = batch.Split(tasks, k, n)
	if err == nil && plan.Videos() > 0 {
		err = CheckCodec(cfg)
	}
	return plan, setupIfUsage(err)
}

// GuardOutput refuses an output folder that would replace or mix with an
// input (a *SetupError), and reports one that cannot be checked.
func GuardOutput(paths []string, cfg config.Config) error {
	return setupIfUsage(batch.GuardOutput(paths, cfg.Output.Dir, cfg.Output.Overwrite))
}

// setupIfUsage makes a batch.ErrUsage a *SetupError.
func setupIfUsage(err error) error {
	if errors.Is(err, batch.ErrUsage) {
		return &SetupError{err}
	}
	return err
}

// FolderOptions steer a folder run or a watch beyond its config.
type FolderOptions struct {
	// Progress is called after each image; FrameProgress as each video's
	// frames are done. Either may be nil.
	Progress      func()
	FrameProgress func(t batch.Task, done, total int)
	// Audit, when set, is where the audit record is written; Version is
	// anonymize's, for the record.
	Audit, Version string
	Log            *slog.Logger
	// Metrics, when set, counts a watch's files and frames, times its
	// detector and turns ready once the folders are watched.
	Metrics *metrics.Run
}

// RunFolder anonymizes the plan's tasks with det under cfg until done or
// ctx ends, then writes the audit record (a record that cannot be written
// counts as a failure).
func RunFolder(ctx context.Context, det *infer.Set, plan Plan, cfg config.Config, o FolderOptions) batch.Summary {
	var results []Result
	start := time.Now()
	bo := BatchOptions(cfg, det, o.Log)
	bo.Progress = func() {
		if o.Progress != nil {
			o.Progress()
		}
	}
	bo.FrameProgress = o.FrameProgress
	sum := batch.Run(ctx, det, plan.Tasks, bo, func(r batch.ImageResult) {
		if o.Audit != "" {
			results = append(results, Hashed(r))
		}
	})
	sum.NotProcessed = len(plan.Other)
	writeRecord(o, det, results, &sum, time.Since(start))
	return sum
}

// writeRecord writes the audit record o asks for; failing, it logs and
// counts one more failure.
func writeRecord(o FolderOptions, det *infer.Set, results []Result, sum *batch.Summary, d time.Duration) {
	if o.Audit == "" {
		return
	}
	if err := WriteAudit(o.Audit, o.Version, det.Info(), results, *sum, d); err != nil {
		o.Log.Error("cannot write audit record", "file", o.Audit, "err", err)
		sum.Failed++
	}
}

// Watch anonymizes the folders of paths with det and keeps watching them
// until ctx ends: what is there first, then every image and video that
// arrives or changes. A model swapped into det takes its own [detectors]
// style from the next file on. The audit record holds each input's last
// outcome.
func Watch(ctx context.Context, det *infer.Set, paths []string, cfg config.Config, o FolderOptions) (batch.Summary, error) {
	results := map[string]Result{} // the last outcome of each input
	start := time.Now()
	bo := BatchOptions(cfg, det, o.Log)
	bo.Video.Detector = o.Metrics.Timed(bo.Video.Detector)
	sum, err := watch.Run(ctx, o.Metrics.Timed(det), paths, cfg.Output.Dir, watch.Options{
		Options: bo,
		Settle:  time.Duration(cfg.Watch.SettleMS) * time.Millisecond,
		Report: func(r batch.ImageResult) {
			if o.Audit != "" {
				results[r.Input] = Hashed(r)
			}
			o.Metrics.File(r.Status)
			o.Metrics.Add(fileCounts(r))
		},
		Ready: func() { o.Metrics.SetReady(func() (bool, string) { return true, "" }) },
	})
	o.Metrics.SetReady(func() (bool, string) { return false, "the watch has stopped" })
	if err != nil {
		return sum, setupIfUsage(err)
	}
	list := make([]Result, 0, len(results))
	for _, r := range results {
		list = append(list, r)
	}
	writeRecord(o, det, list, &sum, time.Since(start))
	return sum, nil
}

// fileCounts are the frames of a file a watch finished, for the metrics:
// an image is one frame, a video its frames.
func fileCounts(r batch.ImageResult) metrics.Counts {
	if v := r.Video; v != nil {
		return metrics.Counts{FramesIn: int64(v.FramesRead), FramesOut: int64(v.Frames),
			HiddenWhole: int64(v.HiddenWhole), DroppedDetector: int64(v.Dropped)}
	}
	switch r.Status {
	case batch.StatusDone:
		return metrics.Counts{FramesIn: 1, FramesOut: 1}
	case batch.StatusHiddenWhole:
		return metrics.Counts{FramesIn: 1, FramesOut: 1, HiddenWhole: 1}
	case batch.StatusDropped:
		return metrics.Counts{FramesIn: 1, DroppedDetector: 1}
	}
	return metrics.Counts{} // skipped, or failed before it was read
}
