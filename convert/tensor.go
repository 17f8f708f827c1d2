package convert

import (
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"
)

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
	// Interp is the resize interpolation (default linear).
	Interp gocv.InterpolationFlags
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

// pixels resizes img as planned and returns its BGR bytes (continuous,
// ContentH rows of ContentW*3), and a func to release any Mat made.
func (p Preprocess) pixels(img gocv.Mat, l Letterbox) ([]byte, func(), error) {
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
		return nil, nil, fmt.Errorf("preprocess: want a non-empty 8-bit BGR image, got type %v, %dx%d", img.Type(), img.Cols(), img.Rows())
	}
	if img.Cols() != l.SrcW || img.Rows() != l.SrcH {
		return nil, nil, fmt.Errorf("preprocess: image is %dx%d, plan is for %dx%d", img.Cols(), img.Rows(), l.SrcW, l.SrcH)
	}
	src := img
	release := func() {}
	if l.ContentW != l.SrcW || l.ContentH != l.SrcH {
		interp := p.Interp
		if interp == 0 {
			interp = gocv.InterpolationLinear
			if l.ContentW < l.SrcW {
				interp = gocv.InterpolationArea
			}
		}
		r := gocv.NewMat()
		gocv.Resize(img, &r, image.Pt(l.ContentW, l.ContentH), 0, 0, interp)
		src = r
		release = func() { r.Close() }
	} else if !img.IsContinuous() {
		r := img.Clone()
		src = r
		release = func() { r.Close() }
	}
	b, err := src.DataPtrUint8()
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("preprocess: %w", err)
	}
	return b, release, nil
}

// FillFloat32 writes img (8-bit BGR, SrcW x SrcH) into dst, which must hold
// Len(l) elements. Padding is the value a black pixel normalises to.
func (p Preprocess) FillFloat32(img gocv.Mat, l Letterbox, dst []float32) error {
	if len(dst) < p.Len(l) {
		return fmt.Errorf("preprocess: tensor holds %d values, need %d", len(dst), p.Len(l))
	}
	px, release, err := p.pixels(img, l)
	if err != nil {
		return err
	}
	defer release()
	var scale, offset [3]float32
	for c := range 3 {
		sd := p.Std[c]
		if sd == 0 {
			sd = 1
		}
		scale[c] = 1 / sd
		offset[c] = -p.Mean[c] / sd
	}
	// Fill the padding.
	plane := l.DstW * l.DstH
	for c := range 3 {
		if p.Layout == NHWC {
			for i := c; i < 3*plane; i += 3 {
				dst[i] = offset[c]
			}
		} else {
			v := offset[c]
			d := dst[c*plane : (c+1)*plane]
			for i := range d {
				d[i] = v
			}
		}
	}
	// src channel index for tensor channel c.
	ch := [3]int{0, 1, 2}
	if p.RGB {
		ch = [3]int{2, 1, 0}
	}
	px0, py0 := int(l.PadX), int(l.PadY)
	for y := 0; y < l.ContentH; y++ {
		row := px[y*l.ContentW*3 : (y+1)*l.ContentW*3]
		ty := y + py0
		if p.Layout == NHWC {
			d := dst[(ty*l.DstW+px0)*3:]
			for x := 0; x < l.ContentW; x++ {
				s := row[x*3 : x*3+3]
				d[x*3] = float32(s[ch[0]])*scale[0] + offset[0]
				d[x*3+1] = float32(s[ch[1]])*scale[1] + offset[1]
				d[x*3+2] = float32(s[ch[2]])*scale[2] + offset[2]
			}
			continue
		}
		base := ty*l.DstW + px0
		d0 := dst[base : base+l.ContentW]
		d1 := dst[plane+base : plane+base+l.ContentW]
		d2 := dst[2*plane+base : 2*plane+base+l.ContentW]
		for x := 0; x < l.ContentW; x++ {
			s := row[x*3 : x*3+3]
			d0[x] = float32(s[ch[0]])*scale[0] + offset[0]
			d1[x] = float32(s[ch[1]])*scale[1] + offset[1]
			d2[x] = float32(s[ch[2]])*scale[2] + offset[2]
		}
	}
	return nil
}

// FillUint8 writes img into an 8-bit tensor (no normalisation; padding 0).
func (p Preprocess) FillUint8(img gocv.Mat, l Letterbox, dst []uint8) error {
	if len(dst) < p.Len(l) {
		return fmt.Errorf("preprocess: tensor holds %d values, need %d", len(dst), p.Len(l))
	}
	px, release, err := p.pixels(img, l)
	if err != nil {
		return err
	}
	defer release()
	clear(dst[:p.Len(l)])
	ch := [3]int{0, 1, 2}
	if p.RGB {
		ch = [3]int{2, 1, 0}
	}
	plane := l.DstW * l.DstH
	px0, py0 := int(l.PadX), int(l.PadY)
	for y := 0; y < l.ContentH; y++ {
		row := px[y*l.ContentW*3 : (y+1)*l.ContentW*3]
		ty := y + py0
		for x := 0; x < l.ContentW; x++ {
			s := row[x*3 : x*3+3]
			i := ty*l.DstW + px0 + x
			if p.Layout == NHWC {
				dst[i*3], dst[i*3+1], dst[i*3+2] = s[ch[0]], s[ch[1]], s[ch[2]]
			} else {
				dst[i], dst[plane+i], dst[2*plane+i] = s[ch[0]], s[ch[1]], s[ch[2]]
			}
		}
	}
	return nil
}
