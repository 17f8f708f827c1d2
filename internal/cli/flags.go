package cli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/internal/config"
)

// A setting is a flag that sets config keys for one run. Its shown default
// is read from config.Default through the same field it sets, so help
// cannot drift from the built-in values; where the built-in value means
// "decide at run time" (0 jobs: one per core), auto says what is decided.
// settings applies every setting given on the command line over the file.
type setting struct {
	keys []string // the config keys it sets, as config.toml spells them
	flag cli.Flag
	auto string // shown instead of a zero default that means "automatic"
	set  func(c *cli.Context, cfg *config.Config)
}

func (s setting) name() string { return s.flag.Names()[0] }

// defaults are the built-in settings the flags show as their defaults.
var defaults = config.Default()

func stringSetting(name, alias, key, usage string, field func(*config.Config) *string) setting {
	f := &cli.StringFlag{Name: name, Usage: usage, Value: *field(&defaults)}
	if alias != "" {
		f.Aliases = []string{alias}
	}
	return setting{keys: []string{key}, flag: f, set: func(c *cli.Context, cfg *config.Config) { *field(cfg) = c.String(name) }}
}

func intSetting(name, alias, key, usage, auto string, field func(*config.Config) *int) setting {
	f := &cli.IntFlag{Name: name, Usage: usage, Value: *field(&defaults), DefaultText: auto}
	if alias != "" {
		f.Aliases = []string{alias}
	}
	return setting{keys: []string{key}, flag: f, auto: auto, set: func(c *cli.Context, cfg *config.Config) { *field(cfg) = c.Int(name) }}
}

func floatSetting(name, alias, key, usage, auto string, field func(*config.Config) *float64) setting {
	f := &cli.Float64Flag{Name: name, Usage: usage, Value: *field(&defaults), DefaultText: auto}
	if alias != "" {
		f.Aliases = []string{alias}
	}
	return setting{keys: []string{key}, flag: f, auto: auto, set: func(c *cli.Context, cfg *config.Config) { *field(cfg) = c.Float64(name) }}
}

func boolSetting(name, key, usage string, field func(*config.Config) *bool) setting {
	f := &cli.BoolFlag{Name: name, Usage: usage, Value: *field(&defaults)}
	return setting{keys: []string{key}, flag: f, set: func(c *cli.Context, cfg *config.Config) { *field(cfg) = c.Bool(name) }}
}

// durationSetting sets an integer key counted in unit (seconds,
// milliseconds) from a duration flag.
func durationSetting(name, key, usage, auto string, unit time.Duration, field func(*config.Config) *int) setting {
	f := &cli.DurationFlag{Name: name, Usage: usage, Value: time.Duration(*field(&defaults)) * unit, DefaultText: auto}
	return setting{keys: []string{key}, flag: f, auto: auto, set: func(c *cli.Context, cfg *config.Config) {
		*field(cfg) = int(c.Duration(name).Round(unit) / unit)
	}}
}

// settingTable is every setting a flag can make, in help order.
func settingTable() []setting {
	d := defaults
	return []setting{
		stringSetting("out", "o", "output.dir", "write outputs under `DIR`, mirroring each input folder (default: FOLDER_anonymized beside each input folder)",
			func(c *config.Config) *string { return &c.Output.Dir }),
		stringSetting("model", "m", "model", "detector to run: a model `NAME` in the models folder, a model folder's path, or an alias (faces: two YuNet models; plates; people); comma-separated for several",
			func(c *config.Config) *string { return &c.Model }),
		{keys: []string{"threshold"}, auto: "each model's [detectors] threshold, else its own",
			flag: &cli.Float64Flag{Name: "threshold", Aliases: []string{"t"}, Usage: "hide detections scoring at least `F` (0..1), for every model",
				DefaultText: "each model's [detectors] threshold, else its own"},
			set: func(c *cli.Context, cfg *config.Config) { cfg.ForceThreshold(float32(c.Float64("threshold"))) }},
		{keys: []string{"tiles"},
			flag: &cli.StringFlag{Name: "tiles", Usage: "multi-scale detection for small faces, `MODE` off, auto or RxC (the whole frame plus overlapping tiles, merged)", Value: d.Tiles},
			set:  func(c *cli.Context, cfg *config.Config) { cfg.ForceTiles(c.String("tiles")) }},
		stringSetting("style", "", "hide.style", "hide regions by `STYLE`: blur, pixelate or solid", func(c *config.Config) *string { return &c.Hide.Style }),
		stringSetting("shape", "", "hide.shape", "shape of each hidden region: `SHAPE` is ellipse or box", func(c *config.Config) *string { return &c.Hide.Shape }),
		floatSetting("mask-scale", "", "hide.mask_scale", "grow each detected box about its centre by `F` before hiding", "",
			func(c *config.Config) *float64 { return &c.Hide.MaskScale }),
		stringSetting("format", "", "output.format", "write images as `FORMAT`: keep (the input's), png or jpg", func(c *config.Config) *string { return &c.Output.Format }),
		intSetting("jobs", "j", "run.jobs", "anonymize `N` images at once", "one per CPU core", func(c *config.Config) *int { return &c.Run.Jobs }),
		boolSetting("overwrite", "output.overwrite", "replace outputs that already exist (else skip them)", func(c *config.Config) *bool { return &c.Output.Overwrite }),
		intSetting("threads", "", "runtime.intra_op_threads", "run each inference on `N` ONNX Runtime threads", "the CPU cores shared among the jobs",
			func(c *config.Config) *int { return &c.Runtime.IntraOpThreads }),
		{keys: []string{"run.shards"}, auto: "all files, no split",
			flag: &cli.StringFlag{Name: "shard", Usage: "folder runs: take shard `K/N` of the files (1-based), split by a hash of each file's path, so N workers over one folder write each output once",
				DefaultText: "all files, no split"},
			set: func(c *cli.Context, cfg *config.Config) { cfg.ForceShard(c.String("shard")) }},
		durationSetting("segment", "live.segment_seconds", "live output: one video file per `DURATION`", "", time.Second,
			func(c *config.Config) *int { return &c.Live.SegmentSeconds }),
		intSetting("jpeg-every", "", "live.jpeg_every", "live output: also write every `N`th anonymized frame as a JPEG", "0: none",
			func(c *config.Config) *int { return &c.Live.JPEGEvery }),
		stringSetting("preview", "", "live.preview", "live: serve an MJPEG view of the anonymized frames at `ADDR` (e.g. 127.0.0.1:8081)",
			func(c *config.Config) *string { return &c.Live.Preview }),
		boolSetting("keep-audio", "video.keep_audio", "videos: copy the original audio track (--keep-audio=false drops it)", func(c *config.Config) *bool { return &c.Video.KeepAudio }),
		stringSetting("codec", "", "video.codec", "videos: ffmpeg video encoder `NAME` (libx264, mpeg4, ...)", func(c *config.Config) *string { return &c.Video.Codec }),
		{keys: []string{"video.preset", "live.preset"},
			auto: fmt.Sprintf("%s for files (video.preset), %s for live (live.preset)", d.Video.Preset, d.Live.Preset),
			flag: &cli.StringFlag{Name: "preset", Usage: "videos and live segments: encoder speed `PRESET` (x264: ultrafast ... veryslow)",
				DefaultText: fmt.Sprintf("%s for files (video.preset), %s for live (live.preset)", d.Video.Preset, d.Live.Preset)},
			set: func(c *cli.Context, cfg *config.Config) {
				cfg.Video.Preset, cfg.Live.Preset = c.String("preset"), c.String("preset")
			}},
		intSetting("persist", "", "video.persist_frames", "videos: keep hiding a face for `N` frames after it was last seen", "",
			func(c *config.Config) *int { return &c.Video.PersistFrames }),
		intSetting("lookahead", "", "video.lookahead_frames", "video files: also hide a face in the `N` frames before it is first seen", "",
			func(c *config.Config) *int { return &c.Video.LookaheadFrames }),
		stringSetting("on-error", "", "video.on_error", "do `ACTION` with a frame or image the detector failed on: hide it whole or drop it (counted either way)",
			func(c *config.Config) *string { return &c.Video.OnError }),
		{keys: []string{"runtime.providers"},
			flag: &cli.StringSliceFlag{Name: "providers", Usage: "execution `PROVIDERS` to try, in order, comma-separated (tensorrt, cuda, cpu)", Value: cli.NewStringSlice(d.Runtime.Providers...)},
			set:  func(c *cli.Context, cfg *config.Config) { cfg.Runtime.Providers = c.StringSlice("providers") }},
		intSetting("detect-max-side", "", "video.detect_max_side", "videos: shrink each frame for detection to a longer side of `N` px (0: full size)", "",
			func(c *config.Config) *int { return &c.Video.DetectMaxSide }),
		intSetting("tile-side", "", "video.tile_side", "videos: also detect one full-size `N`-px tile per shrunk frame, in rotation (0: off)", "",
			func(c *config.Config) *int { return &c.Video.TileSide }),
		stringSetting("metrics", "", "metrics.listen", "watch and live: serve /healthz, /readyz and Prometheus /metrics at `ADDR` (e.g. 127.0.0.1:9090)",
			func(c *config.Config) *string { return &c.Metrics.Listen }),
		// serve
		stringSetting("listen", "l", "serve.listen", "listen on `HOST:PORT` (an empty host: this machine only)", func(c *config.Config) *string { return &c.Serve.Listen }),
		intSetting("max-concurrent", "", "serve.max_concurrent", "process `N` images at once", "one per CPU core",
			func(c *config.Config) *int { return &c.Serve.MaxConcurrent }),
		intSetting("queue", "", "serve.queue", "let `N` more requests wait for a turn before answering 503", "",
			func(c *config.Config) *int { return &c.Serve.Queue }),
		durationSetting("timeout", "serve.timeout_ms", "answer each request within `DURATION`, else 503 (0: no limit)", "", time.Millisecond,
			func(c *config.Config) *int { return &c.Serve.TimeoutMS }),
	}
}

// settingFlags are the flags of the named settings, in the table's order.
func settingFlags(names ...string) []cli.Flag {
	var out []cli.Flag
	for _, s := range settingTable() {
		for _, n := range names {
			if s.name() == n {
				out = append(out, s.flag)
			}
		}
	}
	return out
}

// applySettings puts every setting given on c's command line over cfg.
func applySettings(c *cli.Context, cfg *config.Config) {
	for _, s := range settingTable() {
		if c.IsSet(s.name()) {
			s.set(c, cfg)
		}
	}
}
