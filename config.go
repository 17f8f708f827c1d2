package main

import (
	"errors"
	"fmt"
	"image/color"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/hide"
)

// Config is config.toml.
type Config struct {
	ModelsDir string  `toml:"models_dir"`
	Model     string  `toml:"model"`
	Threshold float32 `toml:"threshold"`
	// Tiles adds a multi-scale pass for small faces: "off", "auto" or "RxC".
	Tiles string `toml:"tiles"`

	Runtime struct {
		Library        string   `toml:"library"`
		Providers      []string `toml:"providers"`
		IntraOpThreads int      `toml:"intra_op_threads"`
		InterOpThreads int      `toml:"inter_op_threads"`
	} `toml:"runtime"`

	Hide struct {
		Style     string  `toml:"style"`
		Shape     string  `toml:"shape"`
		MaskScale float64 `toml:"mask_scale"`
		Colour    string  `toml:"colour"`
	} `toml:"hide"`

	Output struct {
		Dir         string `toml:"dir"`
		Format      string `toml:"format"`
		JPEGQuality int    `toml:"jpeg_quality"`
		Overwrite   bool   `toml:"overwrite"`
	} `toml:"output"`

	Run struct {
		Jobs int `toml:"jobs"`
	} `toml:"run"`

	Video struct {
		// Encoder through ffmpeg: any ffmpeg video encoder (libx264 by
		// default; mpeg4 where H.264 is missing).
		Codec  string `toml:"codec"`
		Preset string `toml:"preset"`
		CRF    int    `toml:"crf"`
		// KeepAudio copies the original audio track without re-encoding.
		KeepAudio bool `toml:"keep_audio"`
		// PersistFrames: a detection keeps hiding its region for this many
		// frames after it was last seen, following its motion.
		PersistFrames int `toml:"persist_frames"`
		// LookaheadFrames (files only): a face first seen at frame t also
		// hides its region in the frames before it, up to this many.
		LookaheadFrames int `toml:"lookahead_frames"`
		// OnError: a frame (or image) the detector failed on is hidden whole
		// ("hide") or dropped ("drop"); counted either way.
		OnError string `toml:"on_error"`
		// TimeoutMS: a frame whose detection takes longer counts as failed
		// (0: no limit).
		TimeoutMS int `toml:"timeout_ms"`
		// DetectMaxSide: video frames are shrunk so their longer side is at
		// most this for detection (hiding is at full size; 0: full size).
		DetectMaxSide int `toml:"detect_max_side"`
	} `toml:"video"`

	Live struct {
		// SegmentSeconds: live output is cut into files this long, named by
		// their start time.
		SegmentSeconds int `toml:"segment_seconds"`
		// JPEGEvery also writes every Nth anonymized frame as a JPEG (0: off).
		JPEGEvery int `toml:"jpeg_every"`
		// Preview serves an MJPEG view of the anonymized frames at this
		// address ("" off; loopback unless you name another interface).
		Preview string `toml:"preview"`
		// ReconnectMaxSeconds caps the backoff between reconnect attempts.
		ReconnectMaxSeconds int `toml:"reconnect_max_seconds"`
		// Preset is the encoder speed of the segment files: live frames
		// must be encoded as fast as they come.
		Preset string `toml:"preset"`
	} `toml:"live"`

	Watch struct {
		// SettleMS: a file counts as complete once its size has not changed
		// for this long (or it was closed after writing).
		SettleMS int `toml:"settle_ms"`
	} `toml:"watch"`

	// Aliases name models for --model: faces, plates and people by default.
	Aliases map[string]string `toml:"aliases"`

	// Detectors holds per-model settings, keyed by model name (or alias):
	// each model's own threshold, labels to hide and hiding style.
	Detectors map[string]DetectorConfig `toml:"detectors"`

	Reload struct {
		// Watch the models folder and this file in the long-running modes.
		Watch bool `toml:"watch"`
		// DebounceMS is the quiet time after the last change before reloading.
		DebounceMS int `toml:"debounce_ms"`
		// AdoptNew switches to a model folder dropped into models_dir.
		AdoptNew bool `toml:"adopt_new"`
		// MinRecall gates reloads: a new model is swapped in only if its
		// privacy recall on the reference set reaches this (0: no gate).
		MinRecall       float64 `toml:"min_recall"`
		ReferenceImages string  `toml:"reference_images"`
		ReferenceBoxes  string  `toml:"reference_boxes"`
	} `toml:"reload"`

	// Serve configures `anonymize serve`, the HTTP service.
	Serve struct {
		// Listen is HOST:PORT; loopback unless another interface is named
		// (an empty host means 127.0.0.1).
		Listen string `toml:"listen"`
		// MaxBodyBytes caps a request body; MaxPixels caps an image's
		// width x height, read from its header before it is decoded.
		MaxBodyBytes int64 `toml:"max_body_bytes"`
		MaxPixels    int64 `toml:"max_pixels"`
		// MaxConcurrent images are processed at once (0: one per CPU core);
		// Queue more may wait for a turn; beyond that a request gets 503.
		MaxConcurrent int `toml:"max_concurrent"`
		Queue         int `toml:"queue"`
		// TimeoutMS bounds each request from arrival to answer (0: none).
		TimeoutMS int `toml:"timeout_ms"`
		// Token, when set, must come as "Authorization: Bearer TOKEN" on
		// every endpoint but /healthz and /readyz.
		Token string `toml:"token"`
	} `toml:"serve"`

	Hub struct {
		// Catalogs are extra catalogue files (relative to this file) or
		// http(s) URLs, read after the built-in one.
		Catalogs []string `toml:"catalogs"`
		// Mirror fetches every model file by content, as Mirror/<sha256>.
		Mirror string `toml:"mirror"`
	} `toml:"hub"`

	// file is where the config was read from ("" for the built-in defaults).
	file string
	// thresholdFlag and tilesFlag: --threshold and --tiles were given, and
	// beat every [detectors] value for this run.
	thresholdFlag, tilesFlag bool
}

// DetectorConfig overrides settings for one model; empty values inherit.
type DetectorConfig struct {
	Threshold float32  `toml:"threshold"`
	Tiles     string   `toml:"tiles"`
	Hide      []string `toml:"hide"`
	Style     string   `toml:"style"`
	Shape     string   `toml:"shape"`
	MaskScale float64  `toml:"mask_scale"`
	Colour    string   `toml:"colour"`
	// Video false keeps the model off video frames (files, live, the
	// service's stream): it runs on photos only.
	Video *bool `toml:"video"`
}

// builtinAliases are the model names `--model faces,plates` understands
// out of the box; [aliases] adds to or replaces them.
var builtinAliases = map[string]string{
	"faces":  "yunet-n-dynamic,yunet-s-640-opencvzoo-2023mar",
	"plates": "lpd-yunet-2023mar",
	"people": "nanodet-m-416-coco",
}

// builtinDetectors are [detectors.NAME] settings that hold unless a config
// says otherwise (in a table for the model or for an alias naming it): the
// default face detectors (faces). yunet-s-640 adds the faces yunet-n misses
// on photos, at a cost per frame that video cannot pay (docs/MODELS.md).
var builtinDetectors = map[string]DetectorConfig{
	"yunet-n-dynamic":               {Threshold: 0.25},
	"yunet-s-640-opencvzoo-2023mar": {Threshold: 0.15, Video: new(false)},
}

// defaultConfig is what applies with no config file; config.toml in the
// repository documents the same values.
func defaultConfig() Config {
	var c Config
	c.ModelsDir = "models"
	c.Model = "faces"
	c.Tiles = "off"
	c.Runtime.Providers = []string{"tensorrt", "cuda", "cpu"}
	c.Hide.Style = "blur"
	c.Hide.Shape = "ellipse"
	c.Hide.MaskScale = 1.3
	c.Hide.Colour = "#000000"
	c.Output.Format = "keep"
	c.Output.JPEGQuality = 95
	c.Hub.Catalogs = []string{}
	c.Aliases = map[string]string{}
	c.Detectors = map[string]DetectorConfig{}
	c.Video.Codec = "libx264"
	c.Video.Preset = "veryfast"
	c.Video.CRF = 20
	c.Video.KeepAudio = true
	c.Video.PersistFrames = 5
	c.Video.LookaheadFrames = 5
	c.Video.OnError = "hide"
	c.Video.DetectMaxSide = video.DefaultDetectMaxSide
	c.Live.SegmentSeconds = 60
	c.Live.ReconnectMaxSeconds = 30
	c.Live.Preset = "ultrafast"
	c.Watch.SettleMS = 1000
	c.Reload.Watch = true
	c.Reload.DebounceMS = 500
	c.Reload.AdoptNew = true
	c.Serve.Listen = "127.0.0.1:8080"
	c.Serve.MaxBodyBytes = 32 << 20
	c.Serve.MaxPixels = 50_000_000
	c.Serve.Queue = 32
	c.Serve.TimeoutMS = 30_000
	return c
}

// loadConfig reads path strictly over the defaults: unknown keys are errors
// naming the key and the file; relative paths resolve against the file's
// folder. An empty path means config.toml in the working directory or beside
// the executable, else the defaults.
func loadConfig(path string) (Config, error) {
	c := defaultConfig()
	if path == "" {
		path = findConfig()
		if path == "" {
			return c, c.resolve("")
		}
	}
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("config %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	c.file = path
	if err := c.resolve(filepath.Dir(path)); err != nil {
		return c, err
	}
	return c, nil
}

func findConfig() string {
	if _, err := os.Stat("config.toml"); err == nil {
		return "config.toml"
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "config.toml")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// resolve makes relative paths absolute against base.
func (c *Config) resolve(base string) error {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.ModelsDir = abs(c.ModelsDir)
	c.Runtime.Library = abs(c.Runtime.Library)
	c.Output.Dir = abs(c.Output.Dir)
	c.Reload.ReferenceImages = abs(c.Reload.ReferenceImages)
	c.Reload.ReferenceBoxes = abs(c.Reload.ReferenceBoxes)
	for i, cat := range c.Hub.Catalogs {
		if !strings.Contains(cat, "://") {
			c.Hub.Catalogs[i] = abs(cat)
		}
	}
	return nil
}

// Validate checks every value; messages name the key and the file.
func (c Config) Validate() error {
	if err := c.check(); err != nil {
		where := c.file
		if where == "" {
			where = "built-in defaults"
		}
		return fmt.Errorf("config %s: %w", where, err)
	}
	return nil
}

// check is Validate without the file's name: one error per bad key, each
// naming the key as config.toml spells it.
func (c Config) check() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.Model == "" {
		bad("model", "missing")
	}
	if !(c.Threshold >= 0 && c.Threshold <= 1) {
		bad("threshold", "%g is outside [0, 1]", c.Threshold)
	}
	for _, p := range c.Runtime.Providers {
		switch p {
		case "tensorrt", "cuda", "cpu":
		default:
			bad("runtime.providers", "unknown provider %q (tensorrt, cuda or cpu)", p)
		}
	}
	if len(c.Runtime.Providers) == 0 {
		bad("runtime.providers", "empty")
	}
	if c.Runtime.IntraOpThreads < 0 {
		bad("runtime.intra_op_threads", "%d must not be negative", c.Runtime.IntraOpThreads)
	}
	if c.Runtime.InterOpThreads < 0 {
		bad("runtime.inter_op_threads", "%d must not be negative", c.Runtime.InterOpThreads)
	}
	// The hide keys are checked by their config names rather than left to
	// hide.Options, whose zero values mean defaults: in the file "" or
	// 0 is a mistake, not a request for the default.
	if err := c.checkHide(); err != nil {
		errs = append(errs, err)
	}
	switch c.Output.Format {
	case "keep", "png", "jpg":
	default:
		bad("output.format", "%q (keep, png or jpg)", c.Output.Format)
	}
	if c.Output.JPEGQuality < 1 || c.Output.JPEGQuality > 100 {
		bad("output.jpeg_quality", "%d is outside 1..100", c.Output.JPEGQuality)
	}
	if c.Run.Jobs < 0 {
		bad("run.jobs", "%d must not be negative", c.Run.Jobs)
	}
	if c.Video.Codec == "" {
		bad("video.codec", "missing (libx264, mpeg4 or another ffmpeg encoder)")
	}
	if c.Video.CRF < 0 || c.Video.CRF > 51 {
		bad("video.crf", "%d is outside 0..51", c.Video.CRF)
	}
	if c.Video.PersistFrames < 0 || c.Video.PersistFrames > 300 {
		bad("video.persist_frames", "%d is outside 0..300", c.Video.PersistFrames)
	}
	if c.Video.LookaheadFrames < 0 || c.Video.LookaheadFrames > 300 {
		bad("video.lookahead_frames", "%d is outside 0..300", c.Video.LookaheadFrames)
	}
	switch c.Video.OnError {
	case "hide", "drop":
	default:
		bad("video.on_error", "%q (hide or drop)", c.Video.OnError)
	}
	if c.Video.DetectMaxSide < 0 {
		bad("video.detect_max_side", "%d must not be negative", c.Video.DetectMaxSide)
	}
	if c.Video.TimeoutMS < 0 {
		bad("video.timeout_ms", "%d must not be negative", c.Video.TimeoutMS)
	}
	if c.Live.SegmentSeconds < 1 {
		bad("live.segment_seconds", "%d must be at least 1", c.Live.SegmentSeconds)
	}
	if c.Live.JPEGEvery < 0 {
		bad("live.jpeg_every", "%d must not be negative", c.Live.JPEGEvery)
	}
	if c.Live.ReconnectMaxSeconds < 1 {
		bad("live.reconnect_max_seconds", "%d must be at least 1", c.Live.ReconnectMaxSeconds)
	}
	if c.Watch.SettleMS < 0 {
		bad("watch.settle_ms", "%d must not be negative", c.Watch.SettleMS)
	}
	if !(c.Reload.MinRecall >= 0 && c.Reload.MinRecall <= 1) {
		bad("reload.min_recall", "%g is outside [0, 1]", c.Reload.MinRecall)
	}
	if c.Reload.MinRecall > 0 && (c.Reload.ReferenceImages == "" || c.Reload.ReferenceBoxes == "") {
		bad("reload.min_recall", "needs reload.reference_images and reload.reference_boxes")
	}
	if c.Reload.DebounceMS < 0 {
		bad("reload.debounce_ms", "%d must not be negative", c.Reload.DebounceMS)
	}
	if _, err := infer.ParseTiling(c.Tiles); err != nil {
		bad("tiles", "%v", err)
	}
	for name, d := range c.Detectors {
		key := "detectors." + name
		if _, err := infer.ParseTiling(d.Tiles); err != nil {
			bad(key+".tiles", "%v", err)
		}
		if !(d.Threshold >= 0 && d.Threshold <= 1) {
			bad(key+".threshold", "%g is outside [0, 1]", d.Threshold)
		}
		if _, err := c.hideWith(d); err != nil {
			bad(key, "%v", err)
		}
	}
	for _, m := range c.modelNames() {
		if m == "" {
			bad("model", "%q has an empty entry", c.Model)
		}
	}
	errs = append(errs, c.checkServe()...)
	if m := c.Hub.Mirror; m != "" && !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
		bad("hub.mirror", "%q is not an http(s) URL", m)
	}
	return errors.Join(errs...)
}

// checkServe validates [serve], one error per bad key.
func (c Config) checkServe() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	s := c.Serve
	if _, port, err := net.SplitHostPort(s.Listen); err != nil {
		bad("serve.listen", "%q: want HOST:PORT, e.g. 127.0.0.1:8080", s.Listen)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad("serve.listen", "%q: the port must be a number from 0 to 65535", s.Listen)
	}
	if s.MaxBodyBytes < 1 {
		bad("serve.max_body_bytes", "%d must be at least 1", s.MaxBodyBytes)
	}
	if s.MaxPixels < 1 {
		bad("serve.max_pixels", "%d must be at least 1", s.MaxPixels)
	}
	if s.MaxConcurrent < 0 {
		bad("serve.max_concurrent", "%d must not be negative", s.MaxConcurrent)
	}
	if s.Queue < 0 {
		bad("serve.queue", "%d must not be negative", s.Queue)
	}
	if s.TimeoutMS < 0 {
		bad("serve.timeout_ms", "%d must not be negative", s.TimeoutMS)
	}
	if strings.IndexFunc(s.Token, func(r rune) bool { return r <= ' ' || r == 0x7F }) >= 0 {
		bad("serve.token", "must not contain spaces or control characters")
	}
	return errs
}

func (c Config) hideOptions() (hide.Options, error) {
	col, err := parseColour(c.Hide.Colour)
	if err != nil {
		return hide.Options{}, fmt.Errorf("hide.colour: %w", err)
	}
	o := hide.Options{
		Style: hide.Style(c.Hide.Style), Shape: hide.Shape(c.Hide.Shape),
		MaskScale: c.Hide.MaskScale, Colour: col,
	}
	if err := o.Validate(); err != nil {
		return o, fmt.Errorf("hide: %w", err)
	}
	return o, nil
}

// checkHide validates [hide], naming each bad key.
func (c Config) checkHide() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	switch hide.Style(c.Hide.Style) {
	case hide.Blur, hide.Pixelate, hide.Solid:
	default:
		bad("hide.style", "%q (blur, pixelate or solid)", c.Hide.Style)
	}
	switch hide.Shape(c.Hide.Shape) {
	case hide.Box, hide.Ellipse:
	default:
		bad("hide.shape", "%q (box or ellipse)", c.Hide.Shape)
	}
	if !(c.Hide.MaskScale > 0 && c.Hide.MaskScale <= hide.MaxMaskScale) {
		bad("hide.mask_scale", "%g is outside (0, %d]", c.Hide.MaskScale, hide.MaxMaskScale)
	}
	if _, err := parseColour(c.Hide.Colour); err != nil {
		bad("hide.colour", "%v", err)
	}
	if len(errs) == 0 {
		if _, err := c.hideOptions(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// hideWith is the hiding style for one model: [hide] with the model's
// [detectors] values over it.
func (c Config) hideWith(d DetectorConfig) (hide.Options, error) {
	h := c
	if d.Style != "" {
		h.Hide.Style = d.Style
	}
	if d.Shape != "" {
		h.Hide.Shape = d.Shape
	}
	if d.MaskScale != 0 {
		h.Hide.MaskScale = d.MaskScale
	}
	if d.Colour != "" {
		h.Hide.Colour = d.Colour
	}
	if err := h.checkHide(); err != nil {
		return hide.Options{}, err
	}
	return h.hideOptions()
}

// modelNames splits the model setting: "faces,plates" runs two models.
// An alias naming several models ("faces") stands for all of them; a model
// named twice runs once.
func (c Config) modelNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range splitList(c.Model) {
		names := []string{m}
		if r := c.resolveAlias(m); r != m {
			names = splitList(r)
		}
		for _, n := range names {
			if !seen[n] || n == "" {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, m := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(m))
	}
	return out
}

// resolveAlias maps an alias to what it names: one model, or several
// separated by commas.
func (c Config) resolveAlias(name string) string {
	if m, ok := c.Aliases[name]; ok {
		return m
	}
	if m, ok := builtinAliases[name]; ok {
		return m
	}
	return name
}

// aliasNames is what name stands for: the models an alias names, or the
// name itself.
func (c Config) aliasNames(name string) []string {
	if r := c.resolveAlias(name); r != name {
		return splitList(r)
	}
	return []string{name}
}

func parseColour(s string) (color.RGBA, error) {
	var r, g, b uint8
	if len(s) != 7 || s[0] != '#' {
		return color.RGBA{}, fmt.Errorf("%q is not #rrggbb", s)
	}
	if _, err := fmt.Sscanf(s[1:], "%02x%02x%02x", &r, &g, &b); err != nil {
		return color.RGBA{}, fmt.Errorf("%q is not #rrggbb", s)
	}
	return color.RGBA{R: r, G: g, B: b, A: 255}, nil
}
