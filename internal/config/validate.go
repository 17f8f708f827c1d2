package config

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"

	"github.com/anonymize/anonymize/convert"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/video/hide"
)

// Validate checks every value; messages name the key and the file.
func (c Config) Validate() error {
	if err := c.Check(); err != nil {
		where := c.file
		if where == "" {
			where = "built-in defaults"
		}
		return fmt.Errorf("config %s: %w", where, err)
	}
	return nil
}

// Check is Validate without the file's name: one error per bad key, each
// naming the key as config.toml spells it. Every number has a range: an
// absurd value (100000 threads, a 1-pixel detector input) is refused here,
// not found out by a run that hangs or hides nothing.
func (c Config) Check() error {
	v := &checker{}
	if c.Model == "" {
		v.bad("model", "missing")
	}
	for _, m := range c.ModelNames() {
		if m == "" {
			v.bad("model", "%q has an empty entry", c.Model)
		}
	}
	v.unit("threshold", c.Threshold)
	if c.MaxPixels < 1 || c.MaxPixels > maxPixels {
		v.bad("max_pixels", "%d is outside 1..%d", c.MaxPixels, maxPixels)
	}
	if _, err := infer.ParseTiling(c.Tiles); err != nil {
		v.bad("tiles", "%v", err)
	}
	c.checkRuntime(v)
	// The hide keys are checked by their config names rather than left to
	// hide.Options, whose zero values mean defaults: in the file "" or
	// 0 is a mistake, not a request for the default.
	if err := c.checkHide(); err != nil {
		v.errs = append(v.errs, err)
	}
	switch c.Output.Format {
	case "keep", "png", "jpg":
	default:
		v.bad("output.format", "%q (keep, png or jpg)", c.Output.Format)
	}
	v.between("output.jpeg_quality", c.Output.JPEGQuality, 1, 100)
	if l := c.Metrics.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			v.bad("metrics.listen", "%q: want HOST:PORT, e.g. 127.0.0.1:9090 (\"\": off)", l)
		}
	}
	v.between("run.jobs", c.Run.Jobs, 0, maxWorkers())
	c.checkVideo(v)
	c.checkLive(v)
	v.between("watch.settle_ms", c.Watch.SettleMS, 0, 600_000)
	c.checkReload(v)
	c.checkDetectors(v)
	v.errs = append(v.errs, c.CheckServe()...)
	c.checkFleet(v)
	if m := c.Hub.Mirror; m != "" && !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
		v.bad("hub.mirror", "%q is not an http(s) URL", redactURL(m))
	}
	for _, l := range c.Hub.AcceptLicenses {
		if l == "" || strings.ContainsAny(l, " \t\n") {
			v.bad("hub.accept_licenses", "%q is not a licence identifier (as models list shows it, e.g. \"GPL-3.0-only\")", l)
		}
	}
	return errors.Join(v.errs...)
}

// Limits of the sizing keys. A thread or worker count is at most
// maxPerCore per CPU core: more only adds memory and contention.
const (
	maxPerCore = 4
	// MinDetectSide is the smallest video.detect_max_side: below it a
	// detector's input (multiples of 32) holds no face it can find.
	MinDetectSide = 128
	maxDetectSide = 8192
)

func maxWorkers() int { return maxPerCore * runtime.NumCPU() }

// checker collects one error per bad key.
type checker struct{ errs []error }

func (v *checker) bad(key, format string, a ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
}

// between checks lo <= n <= hi.
func (v *checker) between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.bad(key, "%d is outside %d..%d", n, lo, hi)
	}
}

// unit checks a score in [0, 1] (NaN is outside).
func (v *checker) unit(key string, f float32) {
	if !(f >= 0 && f <= 1) {
		v.bad(key, "%g is outside [0, 1]", f)
	}
}

func (c Config) checkRuntime(v *checker) {
	for _, p := range c.Runtime.Providers {
		switch p {
		case "tensorrt", "cuda", "cpu":
		default:
			v.bad("runtime.providers", "unknown provider %q (tensorrt, cuda or cpu)", p)
		}
	}
	if len(c.Runtime.Providers) == 0 {
		v.bad("runtime.providers", "empty")
	}
	v.between("runtime.intra_op_threads", c.Runtime.IntraOpThreads, 0, maxWorkers())
	v.between("runtime.inter_op_threads", c.Runtime.InterOpThreads, 0, maxWorkers())
}

func (c Config) checkVideo(v *checker) {
	if c.Video.Codec == "" {
		v.bad("video.codec", "missing (libx264, mpeg4 or another ffmpeg encoder)")
	}
	v.between("video.crf", c.Video.CRF, 0, 51)
	v.between("video.persist_frames", c.Video.PersistFrames, 0, 300)
	v.between("video.lookahead_frames", c.Video.LookaheadFrames, 0, 300)
	switch c.Video.OnError {
	case "hide", "drop":
	default:
		v.bad("video.on_error", "%q (hide or drop)", c.Video.OnError)
	}
	if d := c.Video.DetectMaxSide; d != 0 && (d < MinDetectSide || d > maxDetectSide) {
		v.bad("video.detect_max_side", "%d is outside %d..%d (0: full size): a smaller detector input finds no face", d, MinDetectSide, maxDetectSide)
	}
	if d := c.Video.TileSide; d != 0 && (d < MinDetectSide || d > maxDetectSide) {
		v.bad("video.tile_side", "%d is outside %d..%d (0: off)", d, MinDetectSide, maxDetectSide)
	}
	v.between("video.timeout_ms", c.Video.TimeoutMS, 0, 600_000)
}

func (c Config) checkLive(v *checker) {
	v.between("live.segment_seconds", c.Live.SegmentSeconds, 1, 86_400)
	v.between("live.jpeg_every", c.Live.JPEGEvery, 0, 1_000_000)
	v.between("live.reconnect_max_seconds", c.Live.ReconnectMaxSeconds, 1, 3600)
}

func (c Config) checkReload(v *checker) {
	if !(c.Reload.MinRecall >= 0 && c.Reload.MinRecall <= 1) {
		v.bad("reload.min_recall", "%g is outside [0, 1]", c.Reload.MinRecall)
	}
	if c.Reload.MinRecall > 0 && (c.Reload.ReferenceImages == "" || c.Reload.ReferenceBoxes == "") {
		v.bad("reload.min_recall", "needs reload.reference_images and reload.reference_boxes")
	}
	v.between("reload.debounce_ms", c.Reload.DebounceMS, 0, 600_000)
	switch c.Reload.Adopt {
	case "beside", "replace":
	default:
		v.bad("reload.adopt", "%q (beside or replace)", c.Reload.Adopt)
	}
}

func (c Config) checkDetectors(v *checker) {
	for name, d := range c.Detectors {
		key := "detectors." + name
		if _, err := infer.ParseTiling(d.Tiles); err != nil {
			v.bad(key+".tiles", "%v", err)
		}
		v.unit(key+".threshold", d.Threshold)
		if _, err := convert.ParseBands(d.ThresholdBands); err != nil {
			v.bad(key+".threshold_bands", "%v", err)
		}
		if _, err := c.HideWith(d); err != nil {
			v.bad(key, "%v", err)
		}
	}
}

// maxPixels caps any max_pixels setting: 2^31 pixels (46341 x 46341) is
// about 6 GiB of BGR pixels, beyond what a bounded run may hold.
const maxPixels = 1 << 31

// CheckServe validates [serve], one error per bad key.
func (c Config) CheckServe() []error {
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
	if s.MaxBodyBytes < 1 || s.MaxBodyBytes > 1<<30 {
		bad("serve.max_body_bytes", "%d is outside 1..%d (1 GiB)", s.MaxBodyBytes, 1<<30)
	}
	if s.MaxPixels < 0 || s.MaxPixels > maxPixels {
		bad("serve.max_pixels", "%d is outside 0..%d (0: max_pixels)", s.MaxPixels, maxPixels)
	} else if s.MaxPixels > c.MaxPixels {
		bad("serve.max_pixels", "%d is over max_pixels %d, which caps every mode: raise max_pixels too", s.MaxPixels, c.MaxPixels)
	}
	if s.MaxConcurrent < 0 || s.MaxConcurrent > maxWorkers() {
		bad("serve.max_concurrent", "%d is outside 0..%d (%d per CPU core)", s.MaxConcurrent, maxWorkers(), maxPerCore)
	}
	if s.Queue < 0 || s.Queue > 10_000 {
		bad("serve.queue", "%d is outside 0..10000", s.Queue)
	}
	if s.MaxUploads < 1 || s.MaxUploads > 10_000 {
		bad("serve.max_uploads", "%d is outside 1..10000", s.MaxUploads)
	}
	if s.BodyTimeoutMS < 0 || s.BodyTimeoutMS > 600_000 {
		bad("serve.body_timeout_ms", "%d is outside 0..600000 (10 min)", s.BodyTimeoutMS)
	}
	if s.TimeoutMS < 0 || s.TimeoutMS > 600_000 {
		bad("serve.timeout_ms", "%d is outside 0..600000 (10 min)", s.TimeoutMS)
	}
	if strings.IndexFunc(s.Token, func(r rune) bool { return r <= ' ' || r == 0x7F }) >= 0 {
		bad("serve.token", "must not contain spaces or control characters")
	}
	return errs
}

func (c Config) HideOptions() (hide.Options, error) {
	if _, err := hide.ParseColour(c.Hide.Colour); err != nil {
		return hide.Options{}, fmt.Errorf("hide.colour: %w", err)
	}
	o, err := hide.FromStyle(hide.Options{}, c.StyleWith(DetectorConfig{}))
	if err != nil {
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
	if _, err := hide.ParseColour(c.Hide.Colour); err != nil {
		bad("hide.colour", "%v", err)
	}
	if len(errs) == 0 {
		if _, err := c.HideOptions(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// HideWith is the hiding style for one model: [hide] with the model's
// [detectors] values over it (StyleWith), checked key by key.
func (c Config) HideWith(d DetectorConfig) (hide.Options, error) {
	h := c
	st := c.StyleWith(d)
	h.Hide.Style, h.Hide.Shape, h.Hide.MaskScale, h.Hide.Colour = st.Style, st.Shape, st.MaskScale, st.Colour
	if err := h.checkHide(); err != nil {
		return hide.Options{}, err
	}
	return h.HideOptions()
}
