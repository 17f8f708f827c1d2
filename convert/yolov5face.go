package convert

import "fmt"

// yolov5Face decodes YOLOv5-Face (deepcam-cn/yolov5-face, exported with
// Detect.export = True: the raw head outputs), one output per stride s:
//
//	[1, A, H/s, W/s, 16]  per anchor: 4 box, 1 objectness, 10 landmark and
//	                      1 class value, all logits
//
// anchor a of stride s has the size (aw, ah) in input pixels; for the cell
// at column x, row y (models/yolo.py Detect.forward): with S = sigmoid,
// cx = (2*S(v0) - 0.5 + x)*s, cy = (2*S(v1) - 0.5 + y)*s,
// w = (2*S(v2))^2*aw, h = (2*S(v3))^2*ah; score = S(v4)*S(v15);
// landmark k = (v[5+2k]*aw + x*s, v[6+2k]*ah + y*s) (no sigmoid).
type yolov5Face struct {
	outputs []string
	strides []int
	anchors [][]float32 // per stride: w0, h0, w1, h1, ...
	label   string
}

const (
	yoloLandmarks = 5
	yoloValues    = 4 + 1 + 2*yoloLandmarks + 1
)

// yoloAnchors are yolov5-face's models/yolov5n-0.5.yaml anchors (the same
// for every model of the family at P3-P5).
var yoloAnchors = [][]float32{{4, 5, 8, 10, 13, 16}, {23, 29, 43, 55, 73, 105}, {146, 217, 231, 300, 335, 433}}

func init() { Register("yolov5face", newYOLOv5Face) }

// YOLOv5FaceOptions are the yolov5face adapter's options, a manifest's
// [yolov5face].
type YOLOv5FaceOptions struct {
	// Strides of the head, in output order (default 8, 16, 32).
	Strides []int `toml:"strides,omitempty"`
	// Outputs names the head outputs, one per stride (default stride_8,
	// stride_16, stride_32, the names of export.py).
	Outputs []string `toml:"outputs,omitempty"`
	// Anchors are each stride's anchor sizes in input pixels, as
	// w0, h0, w1, h1, ... (default: the repository's yaml anchors).
	Anchors [][]float32 `toml:"anchors,omitempty"`
}

// withDefaults fills the options left empty.
func (o YOLOv5FaceOptions) withDefaults() YOLOv5FaceOptions {
	if len(o.Strides) == 0 {
		o.Strides = []int{8, 16, 32}
	}
	if len(o.Outputs) == 0 {
		for _, s := range o.Strides {
			o.Outputs = append(o.Outputs, fmt.Sprintf("stride_%d", s))
		}
	}
	if len(o.Anchors) == 0 {
		o.Anchors = yoloAnchors
	}
	return o
}

// Validate checks the strides and that each has an output and at least one
// anchor of positive size.
func (o YOLOv5FaceOptions) Validate() error {
	o = o.withDefaults()
	seen := map[int]bool{}
	for _, s := range o.Strides {
		if s <= 0 || seen[s] {
			return fmt.Errorf("yolov5face: stride %d: must be positive and listed once", s)
		}
		seen[s] = true
	}
	if len(o.Outputs) != len(o.Strides) || len(o.Anchors) != len(o.Strides) {
		return fmt.Errorf("yolov5face: %d outputs and %d anchor lists for %d strides: want one of each per stride", len(o.Outputs), len(o.Anchors), len(o.Strides))
	}
	for i, a := range o.Anchors {
		if len(a) == 0 || len(a)%2 != 0 {
			return fmt.Errorf("yolov5face: anchors[%d]: %d values, want pairs of width and height", i, len(a))
		}
		for _, v := range a {
			if !(v > 0) || !finite(v) {
				return fmt.Errorf("yolov5face: anchors[%d]: size %g: must be positive", i, v)
			}
		}
	}
	return uniqueNames("yolov5face", o.Outputs)
}

func newYOLOv5Face(cfg Config, o YOLOv5FaceOptions) (Decoder, error) {
	o = o.withDefaults()
	d := &yolov5Face{outputs: append([]string(nil), o.Outputs...), strides: append([]int(nil), o.Strides...), label: firstLabel(cfg.Labels, "face")}
	for _, a := range o.Anchors {
		d.anchors = append(d.anchors, append([]float32(nil), a...))
	}
	return d, nil
}

// Outputs lists the head outputs, stride by stride: [1, A, h, w, 16].
func (d *yolov5Face) Outputs() []TensorInfo {
	out := make([]TensorInfo, len(d.outputs))
	for i, n := range d.outputs {
		out[i] = TensorInfo{Name: n, DType: Float32, Shape: []int64{1, int64(len(d.anchors[i]) / 2), -1, -1, yoloValues}}
	}
	return out
}

func (d *yolov5Face) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	if len(outs) != len(d.outputs) {
		return nil, fmt.Errorf("yolov5face: want %d outputs, got %d", len(d.outputs), len(outs))
	}
	if err := checkLetterbox(lb); err != nil {
		return nil, fmt.Errorf("yolov5face: %w", err)
	}
	if err := checkStrides(lb, d.strides); err != nil {
		return nil, fmt.Errorf("yolov5face: %w", err)
	}
	var dets []Detection
	for i, s := range d.strides {
		fw, fh := lb.DstW/s, lb.DstH/s
		na := len(d.anchors[i]) / 2
		v, err := rows(outs[i], d.outputs[i], "anchors", na*fh*fw, yoloValues)
		if err != nil {
			return nil, fmt.Errorf("yolov5face: %w", err)
		}
		for j := range na * fh * fw {
			r := v[yoloValues*j : yoloValues*(j+1)]
			score := sigmoid(r[4]) * sigmoid(r[yoloValues-1])
			if !(score >= threshold) { // also drops NaN
				continue
			}
			a, cell := j/(fh*fw), j%(fh*fw)
			aw, ah := d.anchors[i][2*a], d.anchors[i][2*a+1]
			dets = append(dets, d.detection(lb, s, cell%fw, cell/fw, aw, ah, score, r))
		}
	}
	return dets, nil
}

// detection decodes one anchor (aw x ah) of stride s at cell (x, y).
func (d *yolov5Face) detection(lb Letterbox, s, x, y int, aw, ah, score float32, r []float32) Detection {
	sf, fx, fy := float32(s), float32(x), float32(y)
	cx := (2*sigmoid(r[0]) - 0.5 + fx) * sf
	cy := (2*sigmoid(r[1]) - 0.5 + fy) * sf
	bw, bh := 2*sigmoid(r[2]), 2*sigmoid(r[3])
	w, h := bw*bw*aw, bh*bh*ah
	pts := make([]Point, yoloLandmarks)
	for m := range pts {
		pts[m] = pointToSource(lb, r[5+2*m]*aw+fx*sf, r[6+2*m]*ah+fy*sf)
	}
	return Detection{
		Box:       lb.mapBox(Box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}),
		Score:     score,
		Label:     d.label,
		Keypoints: pts,
	}
}
