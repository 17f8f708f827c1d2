// Package config reads config.toml strictly over the built-in defaults,
// validates every value (messages name the key and the file) and resolves
// what to run: the model folders behind names and aliases, each with its own
// settings.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/anonymize/anonymize/video"
)

// Config is config.toml.
type Config struct {
	ModelsDir string  `toml:"models_dir"`
	Model     string  `toml:"model"`
	Threshold float32 `toml:"threshold"`
	// Tiles adds a multi-scale pass for small faces: "off", "auto" or "RxC".
	Tiles string `toml:"tiles"`
	// MaxPixels caps the width x height of any input, image or video
	// frame, in every mode; an image's is read from its header before it is
	// decoded, so a file that declares a huge image is refused unread.
	MaxPixels int64 `toml:"max_pixels"`

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
		// Shards splits a folder run among this many workers (0 or 1: no
		// split), each taking the files whose path hashes to its shard:
		// --shard K/N, or JOB_COMPLETION_INDEX in a Kubernetes Indexed Job.
		Shards int `toml:"shards"`
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
		// TileSide: frames shrunk for detection also get one square tile of
		// this many pixels at full size, the tiles in rotation
		// (video.Schedule; 0: off).
		TileSide int `toml:"tile_side"`
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

	Metrics struct {
		// Listen serves /healthz, /readyz and /metrics of a watch or live
		// run at HOST:PORT ("": off); serve has them on its own address.
		Listen string `toml:"listen"`
	} `toml:"metrics"`

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
		// AdoptNew runs a model folder dropped into models_dir while
		// running; Adopt says how: "beside" the running models (the
		// default: protection only grows), or "replace" the one hiding the
		// same labels (an explicit choice that may lower protection).
		AdoptNew bool   `toml:"adopt_new"`
		Adopt    string `toml:"adopt"`
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
		// MaxBodyBytes caps a request body; MaxPixels, when set, caps an
		// image's width x height for the service below the top-level
		// max_pixels (0: max_pixels).
		MaxBodyBytes int64 `toml:"max_body_bytes"`
		MaxPixels    int64 `toml:"max_pixels"`
		// MaxConcurrent images are processed at once (0: one per CPU core);
		// Queue more may wait for a turn; beyond that a request gets 503.
		MaxConcurrent int `toml:"max_concurrent"`
		Queue         int `toml:"queue"`
		// MaxUploads bodies may be arriving at once, each within
		// BodyTimeoutMS; an upload holds no processing place, so slow
		// senders cannot starve the others.
		MaxUploads    int `toml:"max_uploads"`
		BodyTimeoutMS int `toml:"body_timeout_ms"`
		// TimeoutMS bounds each request from arrival to answer (0: none).
		TimeoutMS int `toml:"timeout_ms"`
		// Token, when set, must come as "Authorization: Bearer TOKEN" on
		// every endpoint but /healthz and /readyz.
		Token string `toml:"token"`
		// TokenFile holds the token instead (a Kubernetes secret, a systemd
		// credential); relative to this file. Not both.
		TokenFile string `toml:"token_file"`
	} `toml:"serve"`

	Hub struct {
		// Catalogs are extra catalogue files (relative to this file) or
		// http(s) URLs, read after the built-in one.
		Catalogs []string `toml:"catalogs"`
		// Mirror fetches every model file by content, as Mirror/<sha256>.
		Mirror string `toml:"mirror"`
		// AcceptLicenses are the non-permissive model licences (SPDX
		// identifiers, as the catalogue spells them) that models pull and
		// install may install without --accept-license.
		AcceptLicenses []string `toml:"accept_licenses"`
	} `toml:"hub"`

	// file is where the config was read from ("" for the built-in defaults).
	file string
	// thresholdFlag and tilesFlag: --threshold and --tiles were given, and
	// beat every [detectors] value for this run.
	thresholdFlag, tilesFlag bool
	// fromEnv are the ANONYMIZE_ variables that set keys; jobIndex is
	// JOB_COMPLETION_INDEX + 1 (0: not set); shardFlag is --shard K/N
	// (nil: not given).
	fromEnv   []string
	jobIndex  int
	shardFlag *string
}

// DetectorConfig overrides settings for one model; empty values inherit.
type DetectorConfig struct {
	Threshold float32 `toml:"threshold"`
	// ThresholdBands is a threshold by box height in source pixels:
	// [[20, 0.05], [50, 0.1], [0, 0.3]] keeps boxes under 20 px at 0.05,
	// under 50 px at 0.1, and taller ones at 0.3 (convert.Bands). A table
	// setting threshold without it runs that threshold at every size.
	ThresholdBands [][]float64 `toml:"threshold_bands"`
	Tiles          string      `toml:"tiles"`
	Hide           []string    `toml:"hide"`
	Style          string      `toml:"style"`
	Shape          string      `toml:"shape"`
	MaskScale      float64     `toml:"mask_scale"`
	Colour         string      `toml:"colour"`
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
	// The most recall measured, for research use only: SCRFD's weights
	// are non-commercial, YOLOv5-Face is GPL-3.0 (docs/MODELS.md).
	"faces-research": "yolov5n-0.5-face,scrfd-500m-kps",
}

// builtinDetectors are [detectors.NAME] settings that hold unless a config
// says otherwise (in a table for the model or for an alias naming it): the
// default face detectors (faces). yunet-s-640 adds the faces yunet-n misses
// on photos, at a cost per frame that video cannot pay (docs/MODELS.md).
var builtinDetectors = map[string]DetectorConfig{
	// Bands chosen by scripts/bands (cross-validated on wider-dev at full
	// size, 1/2 and 1/3; docs/MODELS.md "Size-aware thresholds").
	"yunet-n-dynamic":               {Threshold: 0.25, ThresholdBands: [][]float64{{20, 0.1}, {0, 0.25}}},
	"yunet-s-640-opencvzoo-2023mar": {Threshold: 0.15, Video: new(false)},
	// Chosen by scripts/bands as yunet-n's were, starting from 0.3.
	"yolov5n-0.5-face": {Threshold: 0.3, ThresholdBands: [][]float64{{20, 0.1}, {50, 0.2}, {0, 0.3}}},
	"scrfd-500m-kps":   {Threshold: 0.3},
}

// Default is what applies with no config file; config.toml in the
// repository documents the same values.
func Default() Config {
	var c Config
	c.ModelsDir = "models"
	c.Model = "faces"
	c.Tiles = "off"
	c.MaxPixels = 50_000_000
	c.Runtime.Providers = []string{"tensorrt", "cuda", "cpu"}
	c.Hide.Style = "blur"
	c.Hide.Shape = "ellipse"
	c.Hide.MaskScale = 1.3
	c.Hide.Colour = "#000000"
	c.Output.Format = "keep"
	c.Output.JPEGQuality = 95
	c.Hub.Catalogs = []string{}
	c.Hub.AcceptLicenses = []string{}
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
	c.Video.TileSide = video.DefaultTileSide
	c.Live.SegmentSeconds = 60
	c.Live.ReconnectMaxSeconds = 30
	c.Live.Preset = "ultrafast"
	c.Watch.SettleMS = 1000
	c.Reload.Watch = true
	c.Reload.DebounceMS = 500
	c.Reload.AdoptNew = true
	c.Reload.Adopt = "beside"
	c.Serve.Listen = "127.0.0.1:8080"
	c.Serve.MaxBodyBytes = 32 << 20
	c.Serve.Queue = 32
	c.Serve.MaxUploads = 64
	c.Serve.BodyTimeoutMS = 10_000
	c.Serve.TimeoutMS = 30_000
	return c
}

// Load reads the config (LoadEnv) with the process's environment.
func Load(path string) (Config, error) { return LoadEnv(path, os.Environ()) }

// LoadEnv reads path strictly over the defaults: unknown keys are errors
// naming the key and the file; relative paths resolve against the file's
// folder. An empty path means the first file of SearchPath that exists,
// else the defaults. Then the ANONYMIZE_ variables of environ apply over
// it (applyEnv), so the precedence is: built-in defaults < config file <
// environment < flags (which the commands apply).
func LoadEnv(path string, environ []string) (Config, error) {
	c := Default()
	if path == "" {
		path = find(SearchPath(environ))
	}
	if path != "" {
		if err := c.decode(path); err != nil {
			return c, err
		}
	}
	return c, c.applyEnv(environ)
}

// decode reads the file at path over c and resolves its paths.
func (c *Config) decode(path string) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return fmt.Errorf("config %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	c.file = path
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return c.resolve(dir)
}

// SearchPath is where a config file is looked for when none is named, in
// order: ./config.toml, $XDG_CONFIG_HOME/anonymize/config.toml (XDG's
// default ~/.config when unset), /etc/anonymize/config.toml, and last
// config.toml beside the executable (a build in its checkout).
func SearchPath(environ []string) []string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	paths := []string{"config.toml"}
	xdg := env["XDG_CONFIG_HOME"]
	if xdg == "" && env["HOME"] != "" {
		xdg = filepath.Join(env["HOME"], ".config")
	}
	if xdg != "" {
		paths = append(paths, filepath.Join(xdg, "anonymize", "config.toml"))
	}
	paths = append(paths, filepath.Join("/etc", "anonymize", "config.toml"))
	if exe, err := os.Executable(); err == nil {
		paths = append(paths, filepath.Join(filepath.Dir(exe), "config.toml"))
	}
	return paths
}

// find is the first of paths that exists, else "".
func find(paths []string) string {
	for _, p := range paths {
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
	c.Serve.TokenFile = abs(c.Serve.TokenFile)
	c.Reload.ReferenceImages = abs(c.Reload.ReferenceImages)
	c.Reload.ReferenceBoxes = abs(c.Reload.ReferenceBoxes)
	for i, cat := range c.Hub.Catalogs {
		if !strings.Contains(cat, "://") {
			c.Hub.Catalogs[i] = abs(cat)
		}
	}
	return nil
}

// File is where the config was read from ("" for the built-in defaults).
func (c Config) File() string { return c.file }

// ForceThreshold sets the threshold of every model for this run (the
// --threshold flag): it beats every [detectors] value.
func (c *Config) ForceThreshold(t float32) { c.Threshold, c.thresholdFlag = t, true }

// ForceTiles sets the tiling of every model for this run (--tiles).
func (c *Config) ForceTiles(t string) { c.Tiles, c.tilesFlag = t, true }

// SizeWorkers fills in the sizing left automatic (0): workers (run.jobs or
// serve.max_concurrent) becomes one per core, and runtime.intra_op_threads
// the cores shared among the workers (oversubscribing them measured 20%
// slower, docs/BENCHMARKS.md).
func (c *Config) SizeWorkers(workers *int, cores int) {
	if *workers == 0 {
		*workers = cores
	}
	if c.Runtime.IntraOpThreads == 0 {
		c.Runtime.IntraOpThreads = max(1, cores / *workers)
	}
}

// ServeMaxPixels is the service's pixel cap: serve.max_pixels when set,
// else max_pixels.
func (c Config) ServeMaxPixels() int64 {
	if c.Serve.MaxPixels > 0 {
		return min(c.Serve.MaxPixels, c.MaxPixels)
	}
	return c.MaxPixels
}
