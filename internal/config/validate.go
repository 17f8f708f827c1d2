package config

import (
	"errors"
	"fmt"
	"image/color"
	"net"
	"strconv"
	"strings"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/video"
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
// naming the key as config.toml spells it.
func (c Config) Check() error {
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
	// video.HideOptions, whose zero values mean defaults: in the file "" or
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
		if _, err := c.HideWith(d); err != nil {
			bad(key, "%v", err)
		}
	}
	for _, m := range c.ModelNames() {
		if m == "" {
			bad("model", "%q has an empty entry", c.Model)
		}
	}
	errs = append(errs, c.CheckServe()...)
	if m := c.Hub.Mirror; m != "" && !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
		bad("hub.mirror", "%q is not an http(s) URL", m)
	}
	return errors.Join(errs...)
}

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

func (c Config) HideOptions() (video.HideOptions, error) {
	col, err := ParseColour(c.Hide.Colour)
	if err != nil {
		return video.HideOptions{}, fmt.Errorf("hide.colour: %w", err)
	}
	o := video.HideOptions{
		Style: video.Style(c.Hide.Style), Shape: video.Shape(c.Hide.Shape),
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
	switch video.Style(c.Hide.Style) {
	case video.Blur, video.Pixelate, video.Solid:
	default:
		bad("hide.style", "%q (blur, pixelate or solid)", c.Hide.Style)
	}
	switch video.Shape(c.Hide.Shape) {
	case video.Box, video.Ellipse:
	default:
		bad("hide.shape", "%q (box or ellipse)", c.Hide.Shape)
	}
	if !(c.Hide.MaskScale > 0 && c.Hide.MaskScale <= video.MaxMaskScale) {
		bad("hide.mask_scale", "%g is outside (0, %d]", c.Hide.MaskScale, video.MaxMaskScale)
	}
	if _, err := ParseColour(c.Hide.Colour); err != nil {
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
// [detectors] values over it.
func (c Config) HideWith(d DetectorConfig) (video.HideOptions, error) {
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
		return video.HideOptions{}, err
	}
	return h.HideOptions()
}

func ParseColour(s string) (color.RGBA, error) {
	var r, g, b uint8
	if len(s) != 7 || s[0] != '#' {
		return color.RGBA{}, fmt.Errorf("%q is not #rrggbb", s)
	}
	if _, err := fmt.Sscanf(s[1:], "%02x%02x%02x", &r, &g, &b); err != nil {
		return color.RGBA{}, fmt.Errorf("%q is not #rrggbb", s)
	}
	return color.RGBA{R: r, G: g, B: b, A: 255}, nil
}
