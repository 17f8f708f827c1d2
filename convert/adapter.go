package convert

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
	return Clip(l.mapBox(b), l.SrcW, l.SrcH)
}

// mapBox maps a box in tensor pixels to source pixels, not clipped: the
// decoders return such boxes, for checkedDecoder to check and then clip.
func (l Letterbox) mapBox(b Box) Box {
	x1, y1 := l.ToSource(b.X1, b.Y1)
	x2, y2 := l.ToSource(b.X2, b.Y2)
	return Box{x1, y1, x2, y2}
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
	// Outputs a working model cannot produce (NaN or infinite values, an
	// inverted box, a box far outside the frame, a count past the output's
	// length) are an error wrapping ErrInvalidOutput: the frame must then be
	// treated as a detector failure, never as "nothing found".
	Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error)
}
