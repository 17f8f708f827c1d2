package convert

import (
	"fmt"
	"strings"
)

// Layout is the memory order of an image tensor.
type Layout string

const (
	NCHW Layout = "nchw"
	NHWC Layout = "nhwc"
)

// Fit says how a source image is placed into a fixed-size input tensor.
type Fit string

const (
	FitTopLeft Fit = "topleft" // keep aspect ratio, pad right and bottom
	FitCentre  Fit = "centre"  // keep aspect ratio, pad evenly on both sides
	FitStretch Fit = "stretch" // no padding, aspect ratio not kept
)

// Letterbox maps between source pixels and input-tensor pixels:
// tensor = source*Scale + Pad, per axis.
type Letterbox struct {
	SrcW, SrcH     int     // source image size
	DstW, DstH     int     // input tensor size (width, height)
	ScaleX, ScaleY float64 // tensor pixels per source pixel
	PadX, PadY     float64 // offset of the image inside the tensor, tensor pixels
	// ContentW, ContentH is the size of the resized image inside the tensor.
	ContentW, ContentH int
}

// ToSource maps a point in tensor pixels back to source pixels.
func (l Letterbox) ToSource(x, y float32) (float32, float32) {
	return float32((float64(x) - l.PadX) / l.ScaleX), float32((float64(y) - l.PadY) / l.ScaleY)
}

// BoxToSource maps a box in tensor pixels to source pixels, clipped to the
// source image.
func (l Letterbox) BoxToSource(b Box) Box {
	x1, y1 := l.ToSource(b.X1, b.Y1)
	x2, y2 := l.ToSource(b.X2, b.Y2)
	return Clip(Box{x1, y1, x2, y2}, l.SrcW, l.SrcH)
}

// Clip clips a box to an image of w x h pixels.
func Clip(b Box, w, h int) Box {
	c := func(v float32, hi int) float32 { return min(max(v, 0), float32(hi)) }
	return Box{c(b.X1, w), c(b.Y1, h), c(b.X2, w), c(b.Y2, h)}
}

// Decoder turns the raw outputs of one model signature into detections.
// Implementations are safe for concurrent use (they hold no per-call state).
type Decoder interface {
	// Outputs is the output contract: the names the model must have, in the
	// order Decode receives them, with element types and shapes (-1 = any).
	Outputs() []TensorInfo
	// Decode returns every candidate with Score >= threshold, boxes and
	// keypoints in source pixels (through lb), clipped to the source image.
	// It does not apply NMS. Outputs arrive in the order of Outputs().
	Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error)
}

// AnchorLayer is one SSD anchor layer of a BlazeFace-style model: a Grid x
// Grid feature map with PerCell anchors in each cell.
type AnchorLayer struct {
	Grid    int `toml:"grid"`
	PerCell int `toml:"anchors"`
}

// DecoderConfig carries what a decoder needs from a model manifest.
type DecoderConfig struct {
	// Adapter names the signature: "yunet", "tfod", "blazeface",
	// "ultraface", "retinaface", "mpface", "lpd_yunet" or "nanodet".
	Adapter string
	// InputW, InputH are the fixed input tensor size, 0 when dynamic.
	InputW, InputH int
	// Labels names the classes; Class indexes into it.
	Labels []string
	// LabelBase is the raw class id of Labels[0] (TF OD API models count
	// from 1).
	LabelBase int
	// Strides of a YuNet-style head (default 8, 16, 32), or of a NanoDet
	// head (one per score/box output pair, default 8, 16, 32).
	Strides []int
	// BlazeFace: anchor layers in output order, and the names of the score
	// and box outputs (one each for merged outputs, one per layer for split).
	// NanoDet: the class-score and box-distribution outputs, one per stride.
	Anchors      []AnchorLayer
	ScoreOutputs []string
	BoxOutputs   []string
	// Prior boxes of the SSD-style heads (retinaface, lpd_yunet): for each
	// level, its step (stride, input pixels per feature-map cell) and the
	// sizes of its square priors in input pixels; Variances are the centre
	// and size variances of the box encoding. Empty: the adapter's defaults.
	PriorSteps    []int
	PriorMinSizes [][]float32
	Variances     []float32
	// PersonRegion (nanodet) is what of a "person" is returned: "body"
	// (the detected box; the default) or "head" (the head region of that
	// box, see HeadBox).
	PersonRegion string
}

// NewDecoder builds the decoder for cfg.Adapter.
func NewDecoder(cfg DecoderConfig) (Decoder, error) {
	switch cfg.Adapter {
	case "yunet":
		return newYuNet(cfg)
	case "tfod":
		return newTFOD(cfg)
	case "blazeface":
		return newBlazeFace(cfg)
	case "ultraface":
		return newUltraFace(cfg)
	case "retinaface":
		return newRetinaFace(cfg)
	case "mpface":
		return newMPFace(cfg)
	case "lpd_yunet":
		return newLPDYuNet(cfg)
	case "nanodet":
		return newNanoDet(cfg)
	}
	return nil, fmt.Errorf("unknown adapter %q (known: %s)", cfg.Adapter, strings.Join(Adapters(), ", "))
}

// Adapters returns the adapter names NewDecoder knows.
func Adapters() []string {
	return []string{"yunet", "tfod", "blazeface", "ultraface", "retinaface", "mpface", "lpd_yunet", "nanodet"}
}
