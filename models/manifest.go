// Package models reads model folders (model.onnx + model.toml) and lists,
// fetches and installs models from hub catalogues. The mock model is in
// models/mock.
package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/anonymize/anonymize/convert"
)

// ManifestFile and ModelFile are the two files of a model folder.
const (
	ManifestFile = "model.toml"
	ModelFile    = "model.onnx"
)

// Manifest is a model folder's model.toml.
type Manifest struct {
	Name        string `toml:"name"`
	Version     string `toml:"version"`
	Adapter     string `toml:"adapter"`
	Description string `toml:"description"`
	License     string `toml:"license"`
	Source      string `toml:"source"`
	// Labels names the classes the model outputs; LabelBase is the raw
	// class id of Labels[0].
	Labels    []string `toml:"labels"`
	LabelBase int      `toml:"label_base"`
	// Hide lists the labels to hide (default: every label).
	Hide []string `toml:"hide"`
	// Threshold is the default score threshold; NMSIoU the NMS overlap.
	Threshold float32 `toml:"threshold"`
	NMSIoU    float32 `toml:"nms_iou"`

	Input      Input     `toml:"input"`
	YuNet      YuNet     `toml:"yunet,omitempty"`
	BlazeFace  BlazeFace `toml:"blazeface,omitempty"`
	RetinaFace Priors    `toml:"retinaface,omitempty"`
	LPDYuNet   Priors    `toml:"lpd_yunet,omitempty"`
	NanoDet    NanoDet   `toml:"nanodet,omitempty"`
}

// Input describes the model's image input.
type Input struct {
	Name   string `toml:"name"`
	DType  string `toml:"dtype"`  // float32 | uint8
	Layout string `toml:"layout"` // nchw | nhwc
	Colour string `toml:"colour"` // bgr | rgb
	// Width and Height 0: the model takes any size (the frame's own,
	// padded up to Multiple and shrunk to MaxSide).
	Width    int        `toml:"width"`
	Height   int        `toml:"height"`
	Multiple int        `toml:"multiple"`
	MaxSide  int        `toml:"max_side"`
	Fit      string     `toml:"fit"` // topleft | centre | stretch
	Mean     [3]float32 `toml:"mean"`
	Std      [3]float32 `toml:"std"`
	// Interp is the resize interpolation: linear, area or cubic; empty:
	// linear when enlarging, area when shrinking.
	Interp string `toml:"interp,omitempty"`
}

// YuNet holds the yunet adapter's options.
type YuNet struct {
	Strides []int `toml:"strides,omitempty"`
}

// BlazeFace holds the blazeface adapter's options.
type BlazeFace struct {
	Anchors []convert.AnchorLayer `toml:"anchors"`
	Scores  []string              `toml:"scores"`
	Boxes   []string              `toml:"boxes"`
}

// Priors holds the prior boxes of the retinaface and lpd_yunet adapters;
// empty fields take the adapter's defaults (those of the origin repos).
type Priors struct {
	// Steps is each level's stride in input pixels; MinSizes the sizes of
	// each level's square priors, in input pixels (one list per step).
	Steps    []int       `toml:"steps,omitempty"`
	MinSizes [][]float32 `toml:"min_sizes,omitempty"`
	// Variances are the centre and size variances of the box encoding.
	Variances []float32 `toml:"variances,omitempty"`
}

// NanoDet holds the nanodet adapter's options.
type NanoDet struct {
	// Scores and Boxes name the class-score and box-distribution outputs,
	// one per stride, in the order of Strides (default 8, 16, 32).
	Scores  []string `toml:"scores,omitempty"`
	Boxes   []string `toml:"boxes,omitempty"`
	Strides []int    `toml:"strides,omitempty"`
	// PersonRegion is what of a detected person is hidden: "body" (the
	// whole box, the default) or "head" (convert.HeadBox of it).
	PersonRegion string `toml:"person_region,omitempty"`
}

// ErrNoManifest means a folder has no model.toml.
var ErrNoManifest = errors.New("no " + ManifestFile)

// ReadManifest reads and validates dir/model.toml. Unknown keys are errors.
func ReadManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	var m Manifest
	md, err := toml.DecodeFile(path, &m)
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("%s: %w", dir, ErrNoManifest)
	}
	if err != nil {
		return m, fmt.Errorf("read manifest %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return m, fmt.Errorf("read manifest %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	m.setDefaults()
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("manifest %s: %w", path, err)
	}
	return m, nil
}

func (m *Manifest) setDefaults() {
	if len(m.Labels) == 0 {
		m.Labels = []string{"face"}
	}
	if len(m.Hide) == 0 {
		m.Hide = slices.Clone(m.Labels)
		// A COCO-style detector hides people, not every object it knows.
		if m.Adapter == "nanodet" && slices.Contains(m.Labels, "person") {
			m.Hide = []string{"person"}
		}
	}
	if m.NMSIoU == 0 {
		m.NMSIoU = 0.4
	}
	if m.Threshold == 0 {
		m.Threshold = 0.5
	}
	in := &m.Input
	if in.DType == "" {
		in.DType = "float32"
	}
	if in.Layout == "" {
		in.Layout = "nchw"
	}
	if in.Colour == "" {
		in.Colour = "bgr"
	}
	if in.Fit == "" {
		in.Fit = "topleft"
	}
	if in.Multiple == 0 {
		in.Multiple = 1
	}
	if in.Std == [3]float32{} {
		in.Std = [3]float32{1, 1, 1}
	}
}

// Validate checks the fields; messages name the key.
func (m Manifest) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if m.Name == "" {
		bad("name: missing")
	}
	if m.Version == "" {
		bad("version: missing")
	}
	known := slices.Contains(convert.Adapters(), m.Adapter)
	switch {
	case m.Adapter == "":
		bad("adapter: missing (%s)", strings.Join(convert.Adapters(), ", "))
	case !known:
		bad("adapter: unknown %q (%s)", m.Adapter, strings.Join(convert.Adapters(), ", "))
	}
	for _, h := range m.Hide {
		if !slices.Contains(m.Labels, h) {
			bad("hide: label %q is not among labels %q", h, m.Labels)
		}
	}
	if m.Threshold < 0 || m.Threshold > 1 {
		bad("threshold: %g is outside [0, 1]", m.Threshold)
	}
	if m.NMSIoU < 0 || m.NMSIoU > 1 {
		bad("nms_iou: %g is outside [0, 1]", m.NMSIoU)
	}
	in := m.Input
	if in.Name == "" {
		bad("input.name: missing")
	}
	if in.DType != "float32" && in.DType != "uint8" {
		bad("input.dtype: %q (float32 or uint8)", in.DType)
	}
	if in.Layout != "nchw" && in.Layout != "nhwc" {
		bad("input.layout: %q (nchw or nhwc)", in.Layout)
	}
	if in.Colour != "bgr" && in.Colour != "rgb" {
		bad("input.colour: %q (bgr or rgb)", in.Colour)
	}
	switch in.Fit {
	case "topleft", "centre", "stretch":
	default:
		bad("input.fit: %q (topleft, centre or stretch)", in.Fit)
	}
	if in.Width < 0 || in.Height < 0 || (in.Width == 0) != (in.Height == 0) {
		bad("input.width, input.height: %d x %d (both 0 for any size, or both positive)", in.Width, in.Height)
	}
	if in.Multiple < 1 || in.MaxSide < 0 {
		bad("input.multiple, input.max_side: %d, %d", in.Multiple, in.MaxSide)
	}
	for c, s := range in.Std {
		if s == 0 {
			bad("input.std[%d]: must not be 0", c)
		}
	}
	if !convert.Interp(in.Interp).Valid() {
		bad("input.interp: %q (linear, area or cubic)", in.Interp)
	}
	if m.Adapter == "blazeface" && (len(m.BlazeFace.Anchors) == 0 || len(m.BlazeFace.Scores) == 0 || len(m.BlazeFace.Boxes) == 0) {
		bad("blazeface: anchors, scores and boxes are required")
	}
	// Options of another adapter are a mistake, not something to ignore.
	for _, sec := range []struct {
		name string
		set  bool
	}{
		{"yunet", len(m.YuNet.Strides) > 0},
		{"blazeface", len(m.BlazeFace.Anchors)+len(m.BlazeFace.Scores)+len(m.BlazeFace.Boxes) > 0},
		{"retinaface", !m.RetinaFace.empty()},
		{"lpd_yunet", !m.LPDYuNet.empty()},
		{"nanodet", len(m.NanoDet.Scores)+len(m.NanoDet.Boxes)+len(m.NanoDet.Strides) > 0 || m.NanoDet.PersonRegion != ""},
	} {
		if sec.set && m.Adapter != sec.name {
			bad("[%s]: options for the %s adapter, but adapter is %q", sec.name, sec.name, m.Adapter)
		}
	}
	if m.Adapter == "nanodet" && (len(m.NanoDet.Scores) == 0 || len(m.NanoDet.Boxes) == 0) {
		bad("nanodet: scores and boxes are required")
	}
	// The decoder checks the rest of the adapter's options.
	if known && len(errs) == 0 {
		if _, err := convert.NewDecoder(m.DecoderConfig()); err != nil {
			bad("%v", err)
		}
	}
	return errors.Join(errs...)
}

func (p Priors) empty() bool {
	return len(p.Steps)+len(p.MinSizes)+len(p.Variances) == 0
}

// Preprocess is the frame-to-tensor conversion the manifest describes.
func (m Manifest) Preprocess() convert.Preprocess {
	in := m.Input
	p := convert.Preprocess{
		Width: in.Width, Height: in.Height, Multiple: in.Multiple, MaxSide: in.MaxSide,
		Layout: convert.Layout(in.Layout), RGB: in.Colour == "rgb",
		Mean: in.Mean, Std: in.Std, Fit: convert.Fit(in.Fit), Interp: convert.Interp(in.Interp),
	}
	if in.DType == "uint8" {
		p.DType = convert.Uint8
	}
	return p
}

// DecoderConfig is what the adapter's decoder needs.
func (m Manifest) DecoderConfig() convert.DecoderConfig {
	c := convert.DecoderConfig{
		Adapter: m.Adapter, InputW: m.Input.Width, InputH: m.Input.Height,
		Labels: m.Labels, LabelBase: m.LabelBase, Strides: m.YuNet.Strides,
		Anchors: m.BlazeFace.Anchors, ScoreOutputs: m.BlazeFace.Scores, BoxOutputs: m.BlazeFace.Boxes,
	}
	var p Priors
	switch m.Adapter {
	case "retinaface":
		p = m.RetinaFace
	case "lpd_yunet":
		p = m.LPDYuNet
	case "nanodet":
		c.Strides, c.ScoreOutputs, c.BoxOutputs = m.NanoDet.Strides, m.NanoDet.Scores, m.NanoDet.Boxes
		c.PersonRegion = m.NanoDet.PersonRegion
	}
	c.PriorSteps, c.PriorMinSizes, c.Variances = p.Steps, p.MinSizes, p.Variances
	return c
}
