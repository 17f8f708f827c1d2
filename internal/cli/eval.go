package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/video"
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
			"box enlarged 1.5x about its centre, averaged over images.",
		Flags: slices.Concat(append([]cli.Flag{
			flagConfig,
			&cli.StringFlag{Name: "images", Required: true, Usage: "folder of the labelled `DIR` (the paths in the boxes file are relative to it)"},
			&cli.StringFlag{Name: "boxes", Required: true, Usage: "labelled face boxes `FILE`: JSON {\"rel/path.jpg\": [[x1,y1,x2,y2], ...]} or WIDER FACE text format"},
		}, settingFlags("model", "threshold", "tiles", "shape", "mask-scale")...), []cli.Flag{
			&cli.BoolFlag{Name: "video", Usage: "measure as video frames are detected: only the models that run on video ([detectors] video), on a copy shrunk to video.detect_max_side"},
		}, settingFlags("detect-max-side", "jobs", "threads", "providers"), []cli.Flag{
			&cli.StringFlag{Name: "json", Usage: "also write the result, missed faces included, to `FILE`"},
			&cli.IntFlag{Name: "missed", Usage: "list the `N` least-covered missed faces"},
			flagQuiet,
		}),
		Action: func(c *cli.Context) error { return cmdEval(c, stdout, stderr) },
	}
}

func cmdEval(c *cli.Context, stdout, stderr io.Writer) error {
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
	var run video.Detector = det
	if c.IsSet("detect-max-side") && !c.Bool("video") {
		return usageErr("--detect-max-side goes with --video")
	}
	side := cfg.Video.DetectMaxSide // settings checked it
	if c.Bool("video") {
		run = video.Shrink(det.ForVideo(), side)
	}
	hide, _ := cfg.HideOptions()
	r, err := eval.Run(c.Context, run, c.String("images"), labels, eval.Options{
		Hide: hide, Jobs: cfg.Run.Jobs, MaxPixels: cfg.MaxPixels,
	})
	if err != nil {
		return &exitError{exitSomeFailed, err}
	}
	if c.Bool("video") {
		how := "at full size"
		if side > 0 {
			how = fmt.Sprintf("shrunk to at most %d px", side)
		}
		fmt.Fprintf(stdout, "as video     the video models, each image %s for detection\n", how)
	}
	printEval(stdout, r, c.Int("missed"))
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
	fmt.Fprintf(w, "time         %.1f ms/image (%.1f images/s), detection %.1f ms\n", r.MsPerImage, 1000/max(r.MsPerImage, 1e-9), r.DetectMs)
	fmt.Fprintf(w, "by face height:\n")
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
