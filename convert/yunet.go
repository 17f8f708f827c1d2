package convert

import (
	"fmt"
	"math"
)

// yunet decodes the YuNet face detector head of libfacedetection.train
// (yunet_n / yunet_s, onnx/yunet_*.onnx): for each stride s, one anchor per
// cell of an (H/s) x (W/s) feature map, row-major, with outputs
//
//	cls_s  [B, N, 1]  class score, sigmoid applied
//	obj_s  [B, N, 1]  objectness, sigmoid applied
//	bbox_s [B, N, 4]  dx, dy, dw, dh
//	kps_s  [B, N, 10] five landmarks as (dx, dy)
//
// Anchor centre (x*s, y*s) with no half-cell offset; cx = dx*s + ax,
// cy = dy*s + ay, w = exp(dw)*s, h = exp(dh)*s; landmark k =
// (kps[2k]*s + ax, kps[2k+1]*s + ay); score = cls*obj (the origin repo's
// rule; OpenCV's FaceDetectorYN uses sqrt(cls*obj) instead).
type yunet struct {
	strides []int
	label   string
}

// yunetHeads are the four output kinds of a YuNet head, in contract order,
// with the number of values per anchor.
var yunetHeads = []struct {
	prefix string
	values int
}{{"cls", 1}, {"obj", 1}, {"bbox", 4}, {"kps", 10}}

func init() { Register("yunet", newYuNet) }

// YuNetOptions are the yunet adapter's options, a manifest's [yunet].
type YuNetOptions struct {
	// Strides of the head, in output order (default 8, 16, 32).
	Strides []int `toml:"strides,omitempty"`
}

// Validate checks that the strides are positive and distinct.
func (o YuNetOptions) Validate() error {
	seen := make(map[int]bool, len(o.Strides))
	for _, s := range o.Strides {
		if s <= 0 {
			return fmt.Errorf("yunet: stride %d: must be positive", s)
		}
		if seen[s] {
			return fmt.Errorf("yunet: stride %d listed twice", s)
		}
		seen[s] = true
	}
	return nil
}

func newYuNet(cfg Config, o YuNetOptions) (Decoder, error) {
	strides := o.Strides
	if len(strides) == 0 {
		strides = []int{8, 16, 32}
	}
	return &yunet{strides: append([]int(nil), strides...), label: firstLabel(cfg.Labels, "face")}, nil
}

func (d *yunet) name(head, i int) string {
	return fmt.Sprintf("%s_%d", yunetHeads[head].prefix, d.strides[i])
}

// Outputs lists cls_*, obj_*, bbox_*, kps_*, each for every stride in order.
func (d *yunet) Outputs() []TensorInfo {
	out := make([]TensorInfo, 0, len(yunetHeads)*len(d.strides))
	for h, head := range yunetHeads {
		for i := range d.strides {
			out = append(out, TensorInfo{Name: d.name(h, i), DType: Float32, Shape: []int64{-1, -1, int64(head.values)}})
		}
	}
	return out
}

func (d *yunet) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	k := len(d.strides)
	if len(outs) != len(yunetHeads)*k {
		return nil, fmt.Errorf("yunet: want %d outputs, got %d", len(yunetHeads)*k, len(outs))
	}
	if err := checkLetterbox(lb); err != nil {
		return nil, fmt.Errorf("yunet: %w", err)
	}
	for _, s := range d.strides {
		if lb.DstW%s != 0 || lb.DstH%s != 0 {
			return nil, fmt.Errorf("yunet: input %dx%d is not a multiple of stride %d", lb.DstW, lb.DstH, s)
		}
	}
	var dets []Detection
	for i, s := range d.strides {
		fw, fh := lb.DstW/s, lb.DstH/s
		n := fw * fh
		var data [4][]float32
		for h, head := range yunetHeads {
			v, err := rows(outs[h*k+i], d.name(h, i), "anchors", n, head.values)
			if err != nil {
				return nil, fmt.Errorf("yunet: %w", err)
			}
			data[h] = v
		}
		cls, obj, bbox, kps := data[0], data[1], data[2], data[3]
		sf := float32(s)
		for j := range n {
			score := clamp01(cls[j]) * clamp01(obj[j])
			if !(score >= threshold) { // also drops NaN
				continue
			}
			ax, ay := float32(j%fw*s), float32(j/fw*s)
			b := bbox[4*j : 4*j+4]
			cx, cy := b[0]*sf+ax, b[1]*sf+ay
			w := float32(math.Exp(float64(b[2]))) * sf
			h := float32(math.Exp(float64(b[3]))) * sf
			p := kps[10*j : 10*j+10]
			pts := make([]Point, 5)
			for m := range pts {
				pts[m] = pointToSource(lb, p[2*m]*sf+ax, p[2*m+1]*sf+ay)
			}
			dets = append(dets, Detection{
				Box:       lb.mapBox(Box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}),
				Score:     score,
				Class:     0,
				Label:     d.label,
				Keypoints: pts,
			})
		}
	}
	return dets, nil
}

// Helpers shared by the decoders.

// rows checks that o is the output called name and holds n rows of c values
// (shape [1, n, c], or [1, n] when c is 1) and returns its data. what names
// a row in the error ("anchors", "detections").
func rows(o Output, name, what string, n, c int) ([]float32, error) {
	if o.Name != "" && o.Name != name {
		return nil, fmt.Errorf("output %q: got output %q in its place", name, o.Name)
	}
	if len(o.Shape) > 0 {
		p := int64(1)
		for _, dim := range o.Shape {
			p *= dim
		}
		if p != int64(len(o.Data)) {
			return nil, fmt.Errorf("output %q: shape %v does not match its %d values", name, o.Shape, len(o.Data))
		}
		if c > 1 && o.Shape[len(o.Shape)-1] != int64(c) {
			return nil, fmt.Errorf("output %q: want %d values per row, got shape %v", name, c, o.Shape)
		}
	}
	if len(o.Data) != n*c {
		return nil, fmt.Errorf("output %q: want %d %s of %d values, got %d values (shape %v)", name, n, what, c, len(o.Data), o.Shape)
	}
	return o.Data, nil
}

// checkLetterbox rejects a letterbox that cannot map back to the source.
func checkLetterbox(lb Letterbox) error {
	if lb.DstW <= 0 || lb.DstH <= 0 || lb.SrcW <= 0 || lb.SrcH <= 0 || !(lb.ScaleX > 0) || !(lb.ScaleY > 0) {
		return fmt.Errorf("invalid letterbox: source %dx%d, tensor %dx%d, scale %gx%g", lb.SrcW, lb.SrcH, lb.DstW, lb.DstH, lb.ScaleX, lb.ScaleY)
	}
	return nil
}

// pointToSource maps a point in tensor pixels to source pixels, not
// clipped (checkedDecoder checks and clips it).
func pointToSource(lb Letterbox, x, y float32) Point {
	sx, sy := lb.ToSource(x, y)
	return Point{sx, sy}
}

// uniqueNames checks that the output names of lists are non-empty and
// distinct.
func uniqueNames(adapter string, lists ...[]string) error {
	seen := map[string]bool{}
	for _, l := range lists {
		for _, name := range l {
			if name == "" {
				return fmt.Errorf("%s: empty output name", adapter)
			}
			if seen[name] {
				return fmt.Errorf("%s: output %q named twice", adapter, name)
			}
			seen[name] = true
		}
	}
	return nil
}

func clamp01(v float32) float32 { return min(max(v, 0), 1) }

func firstLabel(labels []string, def string) string {
	if len(labels) > 0 && labels[0] != "" {
		return labels[0]
	}
	return def
}
