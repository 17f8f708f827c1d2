package convert

import "fmt"

// mpFace decodes Tensor46/mpface's ONNX export of MediaPipe BlazeFace
// (src/mpface/assets/*.onnx), which does the anchor decoding inside the
// graph:
//
//	scores    [B, N]       sigmoid probabilities
//	boxes     [B, N, 4]    x1, y1, x2, y2 in input-tensor pixels
//	landmarks [B, N, 6, 2] six keypoints (x, y) in input-tensor pixels
//
// Only the first image of the batch is read (the runtime feeds one).
// The authors feed raw 0..255 RGB, resized with bicubic interpolation and
// pasted at the top left of a black square (fit "topleft").
type mpFace struct {
	label string
}

const mpFaceKeypoints = 6

var mpFaceContract = []TensorInfo{
	{Name: "scores", DType: Float32, Shape: []int64{-1, -1}},
	{Name: "boxes", DType: Float32, Shape: []int64{-1, -1, 4}},
	{Name: "landmarks", DType: Float32, Shape: []int64{-1, -1, mpFaceKeypoints, 2}},
}

func init() { Register("mpface", newMPFace) }

func newMPFace(cfg Config, _ NoOptions) (Decoder, error) {
	return &mpFace{label: firstLabel(cfg.Labels, "face")}, nil
}

// Outputs lists scores, boxes, landmarks.
func (d *mpFace) Outputs() []TensorInfo { return cloneInfos(mpFaceContract) }

func (d *mpFace) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	if len(outs) != len(mpFaceContract) {
		return nil, fmt.Errorf("mpface: want %d outputs, got %d", len(mpFaceContract), len(outs))
	}
	if err := checkLetterbox(lb); err != nil {
		return nil, fmt.Errorf("mpface: %w", err)
	}
	n := 0
	if s := outs[0].Shape; len(s) == 2 {
		n = int(s[1])
	} else {
		return nil, fmt.Errorf("mpface: output %q: want shape [batch, N], got %v", "scores", s)
	}
	scores, err := batchRows(outs[0], "scores", n)
	if err != nil {
		return nil, fmt.Errorf("mpface: %w", err)
	}
	boxes, err := batchRows(outs[1], "boxes", n, 4)
	if err != nil {
		return nil, fmt.Errorf("mpface: %w", err)
	}
	lms, err := batchRows(outs[2], "landmarks", n, mpFaceKeypoints, 2)
	if err != nil {
		return nil, fmt.Errorf("mpface: %w", err)
	}
	var dets []Detection
	for i := range n {
		score := scores[i]
		if !(score >= threshold) { // also drops NaN
			continue
		}
		b := boxes[4*i : 4*i+4]
		m := lms[2*mpFaceKeypoints*i : 2*mpFaceKeypoints*(i+1)]
		pts := make([]Point, mpFaceKeypoints)
		for k := range pts {
			pts[k] = pointToSource(lb, m[2*k], m[2*k+1])
		}
		dets = append(dets, Detection{
			Box:       lb.mapBox(Box{b[0], b[1], b[2], b[3]}),
			Score:     score,
			Class:     0,
			Label:     d.label,
			Keypoints: pts,
		})
	}
	return dets, nil
}

// batchRows checks that o is the output called name, of shape
// [B, n, tail...] with B >= 1, and returns the data of its first batch
// item: n rows of prod(tail) values.
func batchRows(o Output, name string, n int, tail ...int) ([]float32, error) {
	if o.Name != "" && o.Name != name {
		return nil, fmt.Errorf("output %q: got output %q in its place", name, o.Name)
	}
	want := append([]int64{-1, int64(n)}, make([]int64, len(tail))...)
	c := 1
	for i, t := range tail {
		want[2+i] = int64(t)
		c *= t
	}
	bad := len(o.Shape) != len(want) || o.Shape[0] < 1
	p := int64(1)
	for i, dim := range o.Shape {
		p *= dim
		if i > 0 && i < len(want) && dim != want[i] {
			bad = true
		}
	}
	if bad {
		return nil, fmt.Errorf("output %q: want shape %s, got %v", name, fmtDims(want), o.Shape)
	}
	if p != int64(len(o.Data)) {
		return nil, fmt.Errorf("output %q: shape %v does not match its %d values", name, o.Shape, len(o.Data))
	}
	return o.Data[:n*c], nil
}

// fmtDims writes a shape with -1 as "B".
func fmtDims(s []int64) string {
	out := "["
	for i, d := range s {
		if i > 0 {
			out += " "
		}
		if d < 0 {
			out += "B"
		} else {
			out += fmt.Sprint(d)
		}
	}
	return out + "]"
}
