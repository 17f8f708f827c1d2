package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/app"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/eval"
)

// evalCommand is `anonymize eval`: how many labelled faces would stay
// visible, measured with exactly the mask a run would apply.
func evalCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "measure privacy recall on labelled photos: how many faces would stay visible",
		Description: "Runs the configured detector(s) on every labelled image and applies the same mask a run\n" +
			"would. A face counts as hidden when at least half of its labelled box is covered (also\n" +
			"reported at 80%). Over-hiding is the share of each image masked outside every labelled face\n" +
			"box enlarged 1.5x about its centre, averaged over images.\n\n" +
			"--video WxH measures the video-file path itself: the photos fitted into WxH frames (on\n" +
			"black, 30 fps, 11 frames each, more where tiles or the tracker need it: 17 at 1080p) make\n" +
			"a clip that is anonymized as a run would ([video] settings, the video models, the tracker,\n" +
			"the encoder), and the middle frame of each photo is scored, with the fps of the run.\n" +
			"--video frames is the quick emulation: each photo shrunk for detection to\n" +
			"video.detect_max_side, no clip.",
		Flags: slices.Concat(append([]cli.Flag{
			flagConfig,
			&cli.StringFlag{Name: "images", Required: true, Usage: "`DIR` of the labelled photos (the paths in the boxes file are relative to it)"},
			&cli.StringFlag{Name: "boxes", Required: true, Usage: "labelled face boxes `FILE`: JSON {\"rel/path.jpg\": [[x1,y1,x2,y2], ...]} or WIDER FACE text format"},
		}, settingFlags("model", "threshold", "tiles", "shape", "mask-scale")...), []cli.Flag{
			&cli.StringFlag{Name: "video", Usage: "`WxH`: measure through the video-file path, on a clip of the photos fitted into WxH frames; frames: the quick emulation (the video models on each photo shrunk to video.detect_max_side)"},
			&cli.Float64Flag{Name: "scale", Value: 1, Usage: "shrink each photo and its labels by `F` (0 < F <= 1, area interpolation) before evaluation; with --video WxH each photo takes F of the frame it would fill"},
		}, settingFlags("detect-max-side", "tile-side", "codec", "preset", "jobs", "threads", "providers"), []cli.Flag{
			&cli.StringFlag{Name: "json", Usage: "also write the result, missed faces included, to `FILE`"},
			&cli.IntFlag{Name: "missed", Usage: "list the `N` least-covered missed faces"},
			quietFlag("no effect, kept for scripts: eval logs errors only and prints its result either way"),
		}),
		Action: func(c *cli.Context) error { return cmdEval(c, stdout, stderr) },
	}
}

// evalMode is what --video asks for: photos (""), the quick emulation
// ("frames"), or a clip of w x h frames.
type evalMode struct {
	frames bool
	w, h   int
}

func parseEvalMode(c *cli.Context) (evalMode, error) {
	v := c.String("video")
	if v == "" || v == "frames" {
		if c.IsSet("video") && v == "" {
			return evalMode{}, usageErr("--video: want WxH (e.g. 1920x1080) or frames")
		}
		return evalMode{frames: v == "frames"}, nil
	}
	var m evalMode
	var rest string
	if n, _ := fmt.Sscanf(v, "%dx%d%s", &m.w, &m.h, &rest); n != 2 || m.w < 16 || m.h < 16 || m.w > 16384 || m.h > 16384 {
		return m, usageErr("--video %q: want WxH (e.g. 1920x1080, each side 16 to 16384) or frames", v)
	}
	return m, nil
}

func (m evalMode) clip() bool { return m.w > 0 }

func cmdEval(c *cli.Context, stdout, stderr io.Writer) error {
	mode, err := parseEvalMode(c)
	if err != nil {
		return err
	}
	if f := c.Float64("scale"); !(f > 0 && f <= 1) {
		return usageErr("--scale %g: want 0 < F <= 1", f)
	}
	if c.IsSet("detect-max-side") && !mode.frames && !mode.clip() {
		return usageErr("--detect-max-side goes with --video")
	}
	if c.IsSet("tile-side") && !mode.clip() {
		return usageErr("--tile-side goes with --video WxH")
	}
	cfg, err := settings(c)
	if err != nil {
		return err
	}
	labels, err := eval.LoadLabels(c.String("boxes"))
	if err != nil {
		return usageErr("%v", err)
	}
	cfg.SizeWorkers(&cfg.Run.Jobs, runtime.NumCPU())
	log := newLogger(stderr, true, logOptionsOf(c))
	det, err := loadDetector(cfg, log)
	if err != nil {
		return err
	}
	defer det.Close()
	r, err := runEval(c, cfg, det, labels, mode, log)
	if err != nil {
		return &exitError{exitSomeFailed, err}
	}
	printEvalMode(stdout, cfg, mode)
	printEval(stdout, r, c.Int("missed"))
	return finishEval(c, r, stderr)
}

// runEval measures det on the labelled photos as mode asks.
func runEval(c *cli.Context, cfg config.Config, det *infer.Set, labels eval.Labels, mode evalMode, log *slog.Logger) (eval.Result, error) {
	scale := c.Float64("scale")
	if mode.clip() {
		vdet, fo := batch.VideoFile(det, app.BatchOptions(cfg, det, log))
		return eval.RunVideo(c.Context, vdet, c.String("images"), labels, eval.VideoOptions{
			Width: mode.w, Height: mode.h, Scale: scale, MaxPixels: cfg.MaxPixels, File: fo,
		})
	}
	var run video.Detector = det
	if mode.frames {
		run = video.Shrink(det.ForVideo(), cfg.Video.DetectMaxSide) // settings checked it
	}
	hide, _ := cfg.HideOptions()
	return eval.Run(c.Context, run, c.String("images"), labels, eval.Options{
		Hide: hide, Jobs: cfg.Run.Jobs, MaxPixels: cfg.MaxPixels, Scale: scale,
	})
}

// printEvalMode says how frames were measured, for --video.
func printEvalMode(w io.Writer, cfg config.Config, mode evalMode) {
	side := cfg.Video.DetectMaxSide
	how := "at full size"
	if side > 0 {
		how = fmt.Sprintf("shrunk to at most %d px", side)
	}
	switch {
	case mode.frames:
		fmt.Fprintf(w, "as video     the video models, each image %s for detection\n", how)
	case mode.clip():
		if n := video.NewSchedule(nil, side, cfg.Video.TileSide).Period(mode.w, mode.h); n > 0 {
			how += fmt.Sprintf(", plus one of %d full-size %d-px tiles per frame in rotation", n, cfg.Video.TileSide)
		}
		fmt.Fprintf(w, "as video     a %dx%d clip through the video-file path (%s %s), frames %s for detection\n", mode.w, mode.h, cfg.Video.Codec, cfg.Video.Preset, how)
	}
}

// finishEval writes the --json file and names the images that failed.
func finishEval(c *cli.Context, r eval.Result, stderr io.Writer) error {
	if p := c.String("json"); p != "" {
		data, _ := json.MarshalIndent(r, "", "  ")
		if err := fsutil.WriteFileAtomic(p, append(data, '\n'), 0o644); err != nil {
			return &exitError{exitSomeFailed, err}
		}
	}
	if len(r.Failed) > 0 {
		for _, f := range r.Failed {
			fmt.Fprintf(stderr, "anonymize: eval: %s\n", f)
		}
		return &exitError{exitSomeFailed, nil}
	}
	return nil
}

func printEval(w io.Writer, r eval.Result, missed int) {
	fmt.Fprintf(w, "model        %s %s (%s)\n", r.Model.Name, r.Model.Version, r.Model.Provider)
	fmt.Fprintf(w, "images       %d, faces %d\n", r.Images, r.Faces)
	fmt.Fprintf(w, "recall       %.3f  (face at least half covered)\n", r.Recall)
	fmt.Fprintf(w, "recall@0.8   %.3f\n", r.Recall80)
	fmt.Fprintf(w, "over-hiding  %.4f  (share of image masked away from faces)\n", r.OverHiding)
	if v := r.Video; v != nil {
		fmt.Fprintf(w, "video        %d frames of %dx%d (%d per photo, middle one scored) anonymized at %.1f fps (%.1f s, %s)\n", v.Frames, v.Width, v.Height, v.FramesPerPhoto, v.FPS, v.Seconds, v.Codec)
		if v.HiddenWhole+v.Dropped > 0 {
			fmt.Fprintf(w, "             %d frames hidden whole, %d dropped after a detector error\n", v.HiddenWhole, v.Dropped)
		}
	} else {
		fmt.Fprintf(w, "time         %.1f ms/image (%.1f images/s), detection %.1f ms\n", r.MsPerImage, 1000/max(r.MsPerImage, 1e-9), r.DetectMs)
	}
	if r.Scale > 0 {
		fmt.Fprintf(w, "scale        photos and labels shrunk by %g; %d faces under 1 px tall left out\n", r.Scale, r.TooSmall)
	}
	if r.Video != nil {
		fmt.Fprintf(w, "by face height (labelled, in the source photo's pixels, not the frame's):\n")
	} else {
		fmt.Fprintf(w, "by face height:\n")
	}
	for _, b := range r.Buckets {
		rec := "-"
		if b.Faces > 0 {
			rec = fmt.Sprintf("%.3f", float64(b.Hidden)/float64(b.Faces))
		}
		fmt.Fprintf(w, "  %-7s px  %4d faces  recall %s\n", b.Name, b.Faces, rec)
	}
	if missed > 0 && len(r.Missed) > 0 {
		fmt.Fprintf(w, "missed faces (least covered first):\n")
		ms := append([]eval.Missed(nil), r.Missed...)
		sortMissed(ms)
		for i, m := range ms {
			if i == missed {
				break
			}
			fmt.Fprintf(w, "  %s [%.0f %.0f %.0f %.0f] %.0f px high, covered %.2f\n", m.Image, m.Box.X1, m.Box.Y1, m.Box.X2, m.Box.Y2, m.Box.H(), m.Coverage)
		}
	}
}

func sortMissed(ms []eval.Missed) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].Coverage < ms[j-1].Coverage; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}
