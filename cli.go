package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// Exit codes: a stable, documented table (README "Exit codes").
const (
	exitOK          = 0 // everything asked for was done
	exitSomeFailed  = 1 // some inputs failed (each named on stderr); the rest were written
	exitUsage       = 2 // bad flags, arguments or config, or the model could not be loaded
	exitInterrupted = 130
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, a...)}
}

// run builds the app and runs it, returning the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, permuteArgs(app, args))
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "anonymize: %v\n", ee.err)
		}
		return ee.code
	}
	// Errors from flag parsing and unknown commands.
	fmt.Fprintf(stderr, "anonymize: %v\n", err)
	return exitUsage
}

var (
	flagConfig = &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "read settings from `FILE` (default: ./config.toml, else config.toml beside the binary)"}
	flagQuiet  = &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors: no progress bar, no summary"}
)

func anonymizeFlags() []cli.Flag {
	return []cli.Flag{
		flagConfig,
		&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write outputs under `DIR`, mirroring each input folder (default: FOLDER_anonymized beside each input folder)"},
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "detector to run: a model `NAME` in the models folder, a model folder's path, or an alias (faces, the default: two YuNet models; plates; people); comma-separated for several"},
		&cli.Float64Flag{Name: "threshold", Aliases: []string{"t"}, Usage: "hide detections scoring at least `F` (0..1), for every model (default: each model's [detectors] threshold, else its own)"},
		&cli.StringFlag{Name: "tiles", Usage: "multi-scale detection for small faces: `off`, auto or RxC (the whole frame plus overlapping tiles, merged)"},
		&cli.StringFlag{Name: "style", Usage: "how regions are hidden: `blur`, pixelate or solid"},
		&cli.StringFlag{Name: "shape", Usage: "shape of each hidden region: `ellipse` or box"},
		&cli.Float64Flag{Name: "mask-scale", Usage: "grow each detected box about its centre by `F` before hiding (default 1.3)"},
		&cli.StringFlag{Name: "format", Usage: "output image format: `keep` (same as the input), png or jpg"},
		&cli.StringFlag{Name: "json", Usage: "write an audit record to `FILE`: per image the model (name, version, sha256), threshold and every box with score and label"},
		&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Usage: "anonymize `N` images at once (default: one per CPU core)"},
		&cli.BoolFlag{Name: "overwrite", Usage: "replace outputs that already exist (default: skip them)"},
		&cli.IntFlag{Name: "threads", Usage: "ONNX Runtime threads per inference (runtime.intra_op_threads; default: the CPU cores shared among the jobs)"},
		&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "keep running: anonymize what is in the folders, then every new or changed image and video as it arrives"},
		&cli.StringFlag{Name: "camera", Usage: "anonymize a live camera: OpenCV device `INDEX` (e.g. 0)"},
		&cli.StringFlag{Name: "stream", Usage: "anonymize a live stream: rtsp, http or udp `URL`, or a file played in real time"},
		&cli.DurationFlag{Name: "segment", Usage: "live output: one video file per `DURATION` (default 1m; live.segment_seconds)"},
		&cli.IntFlag{Name: "jpeg-every", Usage: "live output: also write every `N`th anonymized frame as a JPEG"},
		&cli.StringFlag{Name: "preview", Usage: "live: serve an MJPEG view of the anonymized frames at `ADDR` (e.g. 127.0.0.1:8081)"},
		&cli.BoolFlag{Name: "keep-audio", Value: true, Usage: "videos: copy the original audio track (--keep-audio=false drops it)"},
		&cli.StringFlag{Name: "codec", Usage: "videos: ffmpeg video encoder `NAME` (libx264, mpeg4, ...)"},
		&cli.StringFlag{Name: "preset", Usage: "videos and live segments: encoder speed `PRESET` (x264: ultrafast ... veryslow; default: video.preset for files, live.preset for live)"},
		&cli.IntFlag{Name: "persist", Usage: "videos: keep hiding a face for `N` frames after it was last seen"},
		&cli.IntFlag{Name: "lookahead", Usage: "video files: also hide a face in the `N` frames before it is first seen"},
		&cli.StringFlag{Name: "on-error", Usage: "a frame or image the detector failed on: `hide` it whole or drop it (counted either way)"},
		&cli.StringSliceFlag{Name: "providers", Usage: "execution providers to try, in order (tensorrt, cuda, cpu)"},
		flagQuiet,
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "anonymize",
		Usage:     "hide faces in images, videos and live streams: detect them with ONNX models, write anonymized copies",
		UsageText: "anonymize [options] PATH...   (folders are walked recursively; originals are never changed)\nanonymize --watch [options] FOLDER...\nanonymize --camera N|--stream URL --out DIR [options]\nanonymize serve|eval|models|version ...",
		Description: "Writes an anonymized copy of every image and video under each PATH. Detected regions\n" +
			"are blurred, pixelated or filled. Outputs are written atomically; a file that cannot be\n" +
			"read is named on stderr and the run goes on. --watch keeps watching the folders;\n" +
			"--camera and --stream anonymize live sources.\n\n" +
			"Exit codes: 0 all done; 1 some inputs failed; 2 usage, config or model error; 130 interrupted.",
		Version:        version,
		Writer:         stdout,
		ErrWriter:      stderr,
		Flags:          anonymizeFlags(),
		ArgsUsage:      "PATH...",
		ExitErrHandler: func(*cli.Context, error) {},
		Action:         func(c *cli.Context) error { return cmdAnonymize(c, stderr) },
		Commands: []*cli.Command{
			{
				Name:  "version",
				Usage: "print the version of anonymize and of ONNX Runtime",
				Flags: []cli.Flag{flagConfig},
				Action: func(c *cli.Context) error {
					fmt.Fprintf(stdout, "anonymize %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
					cfg, err := loadConfig(c.String("config"))
					if err == nil {
						if rt, err := infer.Init(infer.Options{Library: cfg.Runtime.Library, Providers: []string{"cpu"}, Logger: discardLogger()}); err == nil {
							fmt.Fprintf(stdout, "onnx runtime %s\n", rt.Version())
						}
					}
					return nil
				},
			},
			modelsCommand(stdout),
			evalCommand(stdout, stderr),
			serveCommand(stdout, stderr),
		},
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// settings merges the config file and the flags that were set.
func settings(c *cli.Context) (Config, error) {
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return cfg, usageErr("%v", err)
	}
	// A bad file is named as such; once it is good, anything bad below came
	// from a flag and must not be blamed on the file.
	if err := cfg.Validate(); err != nil {
		return cfg, usageErr("%v", err)
	}
	if c.IsSet("model") {
		cfg.Model = c.String("model")
	}
	// --threshold and --tiles apply to every model: over the [detectors]
	// values too, which a flag given for this run beats.
	if c.IsSet("threshold") {
		cfg.Threshold = float32(c.Float64("threshold"))
		cfg.thresholdFlag = true
	}
	if c.IsSet("tiles") {
		cfg.Tiles = c.String("tiles")
		cfg.tilesFlag = true
	}
	if c.IsSet("style") {
		cfg.Hide.Style = c.String("style")
	}
	if c.IsSet("shape") {
		cfg.Hide.Shape = c.String("shape")
	}
	if c.IsSet("mask-scale") {
		cfg.Hide.MaskScale = c.Float64("mask-scale")
	}
	if c.IsSet("format") {
		cfg.Output.Format = c.String("format")
	}
	if c.IsSet("jobs") {
		cfg.Run.Jobs = c.Int("jobs")
	}
	if c.IsSet("overwrite") {
		cfg.Output.Overwrite = c.Bool("overwrite")
	}
	if c.IsSet("out") {
		cfg.Output.Dir = c.String("out")
	}
	if c.IsSet("segment") {
		cfg.Live.SegmentSeconds = int(c.Duration("segment").Round(time.Second) / time.Second)
	}
	if c.IsSet("jpeg-every") {
		cfg.Live.JPEGEvery = c.Int("jpeg-every")
	}
	if c.IsSet("preview") {
		cfg.Live.Preview = c.String("preview")
	}
	if c.IsSet("keep-audio") {
		cfg.Video.KeepAudio = c.Bool("keep-audio")
	}
	if c.IsSet("codec") {
		cfg.Video.Codec = c.String("codec")
	}
	if c.IsSet("preset") {
		cfg.Video.Preset = c.String("preset")
		cfg.Live.Preset = c.String("preset")
	}
	if c.IsSet("persist") {
		cfg.Video.PersistFrames = c.Int("persist")
	}
	if c.IsSet("lookahead") {
		cfg.Video.LookaheadFrames = c.Int("lookahead")
	}
	if c.IsSet("on-error") {
		cfg.Video.OnError = c.String("on-error")
	}
	if c.IsSet("threads") {
		cfg.Runtime.IntraOpThreads = c.Int("threads")
	}
	if c.IsSet("providers") {
		cfg.Runtime.Providers = c.StringSlice("providers")
	}
	if err := cfg.check(); err != nil {
		return cfg, usageErr("invalid flag value: %v", err)
	}
	return cfg, nil
}

// configured tells whether dir is one of the configured models.
func (c Config) configured(dir string) bool {
	return slices.ContainsFunc(c.modelDirs(), func(d string) bool { return filepath.Clean(d) == filepath.Clean(dir) })
}

// modelDir resolves the first configured model.
func (c Config) modelDir() string { return c.resolveModel(c.modelNames()[0]) }

// modelDirs resolves every configured model (aliases included).
func (c Config) modelDirs() []string {
	var out []string
	for _, m := range c.modelNames() {
		out = append(out, c.resolveModel(m))
	}
	return out
}

// resolveModel turns a model name or a path into a folder (modelNames
// has expanded the aliases).
func (c Config) resolveModel(m string) string {
	if strings.ContainsRune(m, os.PathSeparator) || strings.HasPrefix(m, ".") {
		return m
	}
	if st, err := os.Stat(filepath.Join(c.ModelsDir, m)); err == nil && st.IsDir() {
		return filepath.Join(c.ModelsDir, m)
	}
	if st, err := os.Stat(m); err == nil && st.IsDir() {
		return m
	}
	return filepath.Join(c.ModelsDir, m)
}

// detectorConfig is the [detectors.X] settings of a model folder: the
// built-in ones (builtinDetectors), then the config's tables of every alias
// naming it (in name order), then its own table, each over the last, key by
// key.
func (c Config) detectorConfig(dir string) (DetectorConfig, bool) {
	base := filepath.Base(dir)
	out, found := builtinDetectors[base]
	for _, name := range slices.Sorted(maps.Keys(c.Detectors)) {
		if name != base && slices.Contains(c.aliasNames(name), base) {
			overlay(&out, c.Detectors[name])
			found = true
		}
	}
	if d, ok := c.Detectors[base]; ok {
		overlay(&out, d)
		found = true
	}
	return out, found
}

// overlay sets every key of dst that src sets.
func overlay(dst *DetectorConfig, src DetectorConfig) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for i := range s.NumField() {
		if !s.Field(i).IsZero() {
			d.Field(i).Set(s.Field(i))
		}
	}
}

// specs lists what to run: each configured model with its options.
func (c Config) specs() []infer.Spec {
	var out []infer.Spec
	for _, dir := range c.modelDirs() {
		o := infer.LoadOptions{Threshold: c.Threshold, Tiles: c.Tiles}
		if d, ok := c.detectorConfig(dir); ok {
			if d.Threshold > 0 && !c.thresholdFlag {
				o.Threshold = d.Threshold
			}
			if d.Tiles != "" && !c.tilesFlag {
				o.Tiles = d.Tiles
			}
			o.Hide = d.Hide
			o.ImagesOnly = d.Video != nil && !*d.Video
		}
		out = append(out, infer.Spec{Dir: dir, Options: o})
	}
	return out
}

// hideByModel maps each running model's name to its hiding style.
func (c Config) hideByModel(set *infer.Set) map[string]hide.Options {
	m := map[string]hide.Options{}
	for _, info := range set.Models() {
		if d, ok := c.detectorConfig(info.Dir); ok {
			if h, err := c.hideWith(d); err == nil {
				m[info.Name] = h
			}
		}
	}
	return m
}

func newLogger(stderr io.Writer, quiet bool) *slog.Logger {
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// loadDetector starts the runtime and loads every configured model. All
// must load: running without one would leave its classes unhidden.
func loadDetector(cfg Config, log *slog.Logger) (*infer.Set, error) {
	rt, err := infer.Init(infer.Options{
		Library: cfg.Runtime.Library, Providers: cfg.Runtime.Providers,
		IntraOpThreads: cfg.Runtime.IntraOpThreads, InterOpThreads: cfg.Runtime.InterOpThreads,
		Logger: log,
	})
	if err != nil {
		return nil, usageErr("%v", err)
	}
	set, err := rt.NewSet(cfg.specs())
	if err != nil {
		hint := ""
		if errors.Is(err, models.ErrNoManifest) || errors.Is(err, os.ErrNotExist) {
			hint = " (installed models: anonymize models list; scripts/setup.sh installs the defaults)"
		}
		if len(cfg.modelNames()) > 1 {
			return nil, usageErr("not starting: every model must load, or its classes would go unhidden: %v%s", err, hint)
		}
		return nil, usageErr("%v%s", err, hint)
	}
	installGate(cfg, set, log)
	return set, nil
}

func cmdAnonymize(c *cli.Context, stderr io.Writer) error {
	cfg, err := settings(c)
	if err != nil {
		return err
	}
	quiet := c.Bool("quiet")
	log := newLogger(stderr, quiet)
	if c.IsSet("camera") || c.IsSet("stream") {
		if c.IsSet("camera") && c.IsSet("stream") {
			return usageErr("--camera and --stream are exclusive")
		}
		return cmdLive(c, cfg, log, stderr)
	}
	if c.NArg() == 0 {
		cli.ShowAppHelp(c)
		return &exitError{exitUsage, errors.New("no input paths given")}
	}
	if c.Bool("watch") {
		return cmdWatch(c, cfg, log, stderr)
	}

	tasks, other, err := batch.Plan(c.Args().Slice(), cfg.Output.Dir, cfg.Output.Format)
	if err == nil {
		err = batch.GuardOutput(c.Args().Slice(), cfg.Output.Dir, cfg.Output.Overwrite)
	}
	if err != nil {
		if errors.Is(err, batch.ErrUsage) {
			return usageErr("%v", err)
		}
		return &exitError{exitSomeFailed, err}
	}
	if cfg.Run.Jobs == 0 {
		cfg.Run.Jobs = runtime.NumCPU()
	}
	if cfg.Runtime.IntraOpThreads == 0 {
		// Share the cores among the jobs: oversubscribing them measured
		// 20% slower (docs/BENCHMARKS.md).
		cfg.Runtime.IntraOpThreads = max(1, runtime.NumCPU()/cfg.Run.Jobs)
	}
	det, err := loadDetector(cfg, log)
	if err != nil {
		return err
	}
	defer det.Close()

	videos := 0
	for _, t := range tasks {
		if t.IsVideo() {
			videos++
		}
	}
	var bar *progressbar.ProgressBar
	if !quiet && isTerminal(stderr) && len(tasks) > 1 && videos == 0 { // videos get a frame bar instead

		bar = progressbar.NewOptions(len(tasks), progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("anonymizing"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"),
			progressbar.OptionClearOnFinish())
	}
	var fbar *frameBar
	if !quiet && isTerminal(stderr) && videos > 0 {
		fbar = &frameBar{w: stderr, videos: videos}
	}
	var results []batch.ImageResult
	start := time.Now()
	opts := batchOptions(cfg, det, log)
	opts.Progress = func() {
		if bar != nil {
			bar.Add(1)
		}
	}
	if fbar != nil {
		opts.FrameProgress = fbar.update
	}
	sum := batch.Run(c.Context, det, tasks, opts, func(r batch.ImageResult) { results = append(results, r) })
	if bar != nil {
		bar.Finish()
	}
	if fbar != nil {
		fbar.finish()
	}
	sum.NotProcessed = len(other)
	elapsed := time.Since(start)

	if path := c.String("json"); path != "" {
		if err := writeAudit(path, det.Info(), results, sum, elapsed); err != nil {
			log.Error("cannot write audit record", "file", path, "err", err)
			sum.Failed++
		}
	}
	if !quiet {
		fmt.Fprintf(stderr, "anonymize: %d written, %d skipped (output exists), %d failed", sum.Done, sum.Skipped, sum.Failed)
		if sum.HiddenWhole+sum.Dropped > 0 {
			fmt.Fprintf(stderr, ", %d hidden whole after a detector error", sum.HiddenWhole+sum.Dropped)
		}
		if sum.Videos > 0 {
			fmt.Fprintf(stderr, "; %d videos, %d frames written", sum.Videos, sum.Frames)
			if n := sum.FramesHiddenWhole + sum.FramesDropped; n > 0 {
				fmt.Fprintf(stderr, " (%d frames hidden whole or dropped after a detector error)", n)
			}
		}
		fmt.Fprintf(stderr, "; %d regions hidden; %d other files ignored; %.1f s\n", sum.Hidden, sum.NotProcessed, elapsed.Seconds())
	}
	if c.Context.Err() != nil {
		return &exitError{exitInterrupted, errors.New("interrupted: images not yet started were not written")}
	}
	if sum.Problems() > 0 {
		return &exitError{exitSomeFailed, nil}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// audit is the --json record.
type audit struct {
	Tool     string              `json:"tool"`
	Version  string              `json:"version"`
	Finished time.Time           `json:"finished"`
	Seconds  float64             `json:"seconds"`
	Model    infer.Info          `json:"model"`
	Summary  batch.Summary       `json:"summary"`
	Images   []batch.ImageResult `json:"images"`
}

func writeAudit(path string, info infer.Info, results []batch.ImageResult, sum batch.Summary, d time.Duration) error {
	batch.SortResults(results)
	if results == nil {
		results = []batch.ImageResult{}
	}
	data, err := json.MarshalIndent(audit{Tool: "anonymize", Version: version, Finished: time.Now().UTC(),
		Seconds: d.Seconds(), Model: info, Summary: sum, Images: results}, "", "  ")
	if err != nil {
		return err
	}
	return imageio.WriteFileAtomic(path, append(data, '\n'), 0o644)
}
