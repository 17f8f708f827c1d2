package convert

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidOutput means a model's outputs are not something a working
// detector produces (NaN or infinite values, an inverted box, a box far
// outside the frame, a detection count it cannot have). Callers must treat
// the frame as a detector failure: hiding nothing would show every face.
var ErrInvalidOutput = errors.New("invalid detector output")

// frameMargin is how far outside the frame a box or keypoint may reach
// before clipping, in lengths of the frame's (or the input tensor's, in
// source pixels) longer side: a face cut by the frame's edge reaches out a
// little, and a prior box of an SSD head can be several times a small
// frame, but a value beyond this is garbage.
const frameMargin = 4

// checkedDecoder is the decoder NewDecoder returns: the adapter's decoder,
// with the checks that every decode goes through, whatever the adapter.
// Before decoding, every output value must be finite (a NaN score would
// otherwise fail the threshold test and pass for "no face"). After, every
// detection must be finite, not inverted and within frameMargin frames of
// the source; it is then clipped to the source image.
type checkedDecoder struct {
	name string
	dec  Decoder
}

// Outputs is the adapter's output contract.
func (c checkedDecoder) Outputs() []TensorInfo { return c.dec.Outputs() }

// Decode checks outs, decodes them with the adapter and checks and clips
// the detections; see Decoder.
func (c checkedDecoder) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	for _, o := range outs {
		for i, v := range o.Data {
			if !finite(v) {
				return nil, fmt.Errorf("%s: %w: output %q value %d of %d is %v", c.name, ErrInvalidOutput, o.Name, i, len(o.Data), v)
			}
		}
	}
	dets, err := c.dec.Decode(outs, lb, threshold)
	if err != nil {
		return nil, err
	}
	for i := range dets {
		d := &dets[i]
		if err := checkDetection(*d, lb); err != nil {
			return nil, fmt.Errorf("%s: %w: detection %d (score %g, box %v): %v", c.name, ErrInvalidOutput, i, d.Score, d.Box, err)
		}
		d.Box = Clip(d.Box, lb.SrcW, lb.SrcH)
		for k, p := range d.Keypoints {
			d.Keypoints[k] = Point{min(max(p.X, 0), float32(lb.SrcW)), min(max(p.Y, 0), float32(lb.SrcH))}
		}
	}
	return dets, nil
}

// checkDetection checks one decoded detection, in source pixels before
// clipping.
func checkDetection(d Detection, lb Letterbox) error {
	b := d.Box
	if !finite(d.Score) || !finite(b.X1) || !finite(b.Y1) || !finite(b.X2) || !finite(b.Y2) {
		return errors.New("not a finite number")
	}
	if b.X2 < b.X1 || b.Y2 < b.Y1 {
		return errors.New("inverted box")
	}
	w, h := float32(lb.SrcW), float32(lb.SrcH)
	m := frameMargin * float32(max(float64(lb.SrcW), float64(lb.SrcH), float64(lb.DstW)/lb.ScaleX, float64(lb.DstH)/lb.ScaleY))
	inside := func(x, y float32) bool { return x >= -m && x <= w+m && y >= -m && y <= h+m }
	if !inside(b.X1, b.Y1) || !inside(b.X2, b.Y2) {
		return fmt.Errorf("more than %g pixels outside the %dx%d frame", m, lb.SrcW, lb.SrcH)
	}
	for k, p := range d.Keypoints {
		if !finite(p.X) || !finite(p.Y) {
			return fmt.Errorf("keypoint %d is not a finite number", k)
		}
		if !inside(p.X, p.Y) {
			return fmt.Errorf("keypoint %d more than %g pixels outside the %dx%d frame", k, m, lb.SrcW, lb.SrcH)
		}
	}
	return nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
