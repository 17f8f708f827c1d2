package convert

import "math"

// Preprocess describes how a model wants a frame: tensor size, layout,
// colour order, element type and normalisation. It holds no C memory.
type Preprocess struct {
	// Width, Height of the input tensor; 0 means the model takes any size
	// and the frame is fed at its own size, padded to Multiple (and shrunk
	// to MaxSide when that is set).
	Width, Height int
	Multiple      int // dynamic inputs: pad width and height up to a multiple of this
	MaxSide       int // dynamic inputs: shrink so the longer side is at most this (0: no limit)
	Layout        Layout
	RGB           bool // channel order of the tensor (frames arrive as BGR)
	DType         DType
	// Mean and Std normalise float inputs per channel, in the tensor's
	// channel order: value = (pixel - Mean) / Std. A zero Std counts as 1.
	Mean, Std [3]float32
	Fit       Fit
	// Interp is the resize interpolation; InterpAuto: linear when
	// enlarging, area when shrinking.
	Interp Interp
}

// Interp names a resize interpolation, as input.interp in a manifest
// spells it. package convert/tensor maps it to OpenCV's flag.
type Interp string

const (
	InterpAuto   Interp = "" // linear when enlarging, area when shrinking
	InterpLinear Interp = "linear"
	InterpArea   Interp = "area"
	InterpCubic  Interp = "cubic"
)

// Valid reports whether i is one of the Interp constants.
func (i Interp) Valid() bool {
	switch i {
	case InterpAuto, InterpLinear, InterpArea, InterpCubic:
		return true
	}
	return false
}

// Dynamic reports whether the tensor size follows the frame.
func (p Preprocess) Dynamic() bool { return p.Width == 0 || p.Height == 0 }

// Plan places a srcW x srcH frame into the input tensor.
func (p Preprocess) Plan(srcW, srcH int) Letterbox {
	l := Letterbox{SrcW: srcW, SrcH: srcH}
	if p.Dynamic() {
		s := 1.0
		if p.MaxSide > 0 && max(srcW, srcH) > p.MaxSide {
			s = float64(p.MaxSide) / float64(max(srcW, srcH))
		}
		l.ContentW = max(1, int(math.Round(float64(srcW)*s)))
		l.ContentH = max(1, int(math.Round(float64(srcH)*s)))
		m := max(p.Multiple, 1)
		l.DstW = (l.ContentW + m - 1) / m * m
		l.DstH = (l.ContentH + m - 1) / m * m
		l.ScaleX = float64(l.ContentW) / float64(srcW)
		l.ScaleY = float64(l.ContentH) / float64(srcH)
		return l
	}
	l.DstW, l.DstH = p.Width, p.Height
	if p.Fit == FitStretch {
		l.ContentW, l.ContentH = p.Width, p.Height
		l.ScaleX = float64(p.Width) / float64(srcW)
		l.ScaleY = float64(p.Height) / float64(srcH)
		return l
	}
	s := min(float64(p.Width)/float64(srcW), float64(p.Height)/float64(srcH))
	l.ContentW = min(p.Width, max(1, int(math.Round(float64(srcW)*s))))
	l.ContentH = min(p.Height, max(1, int(math.Round(float64(srcH)*s))))
	// The exact scale per axis, so that undoing it lands on the source edges.
	l.ScaleX = float64(l.ContentW) / float64(srcW)
	l.ScaleY = float64(l.ContentH) / float64(srcH)
	if p.Fit == FitCentre {
		l.PadX = float64((p.Width - l.ContentW) / 2)
		l.PadY = float64((p.Height - l.ContentH) / 2)
	}
	return l
}

// Shape is the input tensor shape for a plan.
func (p Preprocess) Shape(l Letterbox) []int64 {
	if p.Layout == NHWC {
		return []int64{1, int64(l.DstH), int64(l.DstW), 3}
	}
	return []int64{1, 3, int64(l.DstH), int64(l.DstW)}
}

// Len is the number of elements of the input tensor for a plan.
func (p Preprocess) Len(l Letterbox) int { return 3 * l.DstW * l.DstH }
