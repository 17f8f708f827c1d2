package convert

import "fmt"

// scrfd decodes InsightFace's SCRFD face detectors with keypoints
// (scrfd_500m_kps, scrfd_2.5g_kps, ...; ONNX export of hpc203/scrfd-opencv
// and insightface's own): for each stride s, A anchors per cell of an
// (H/s) x (W/s) feature map, row-major, each cell's anchors consecutive
// (index = (y*w + x)*A + a), with outputs
//
//	scores    [1, N, 1]  face score, sigmoid applied
//	boxes     [1, N, 4]  distances to the left, top, right and bottom
//	                     sides, in strides
//	keypoints [1, N, 10] five landmarks as (dx, dy), in strides
//
// Anchor centre (x*s, y*s), no half-cell offset (insightface scrfd.py);
// box = (cx - l*s, cy - t*s, cx + r*s, cy + b*s); landmark k =
// (cx + kps[2k]*s, cy + kps[2k+1]*s).
type scrfd struct {
	scores, boxes, kps []string
	strides            []int
	anchors            int
	label              string
}

const scrfdLandmarks = 5

func init() { Register("scrfd", newSCRFD) }

// SCRFDOptions are the scrfd adapter's options, a manifest's [scrfd].
type SCRFDOptions struct {
	// Strides of the head, in output order (default 8, 16, 32).
	Strides []int `toml:"strides,omitempty"`
	// Anchors per feature-map cell (default 2).
	Anchors int `toml:"anchors,omitempty"`
	// Scores, Boxes and Keypoints name the outputs, one per stride
	// (default out0..out2, out3..out5 and out6..out8, the names of
	// hpc203's export).
	Scores    []string `toml:"scores,omitempty"`
	Boxes     []string `toml:"boxes,omitempty"`
	Keypoints []string `toml:"keypoints,omitempty"`
}

// withDefaults fills the options left empty.
func (o SCRFDOptions) withDefaults() SCRFDOptions {
	if len(o.Strides) == 0 {
		o.Strides = []int{8, 16, 32}
	}
	if o.Anchors == 0 {
		o.Anchors = 2
	}
	names := func(names []string, first int) []string {
		if len(names) > 0 {
			return append([]string(nil), names...)
		}
		out := make([]string, len(o.Strides))
		for i := range out {
			out[i] = fmt.Sprintf("out%d", first+i)
		}
		return out
	}
	k := len(o.Strides)
	o.Scores, o.Boxes, o.Keypoints = names(o.Scores, 0), names(o.Boxes, k), names(o.Keypoints, 2*k)
	return o
}

// Validate checks the strides, the anchor count and that there is one
// output of each kind per stride, all named differently.
func (o SCRFDOptions) Validate() error {
	if o.Anchors < 0 {
		return fmt.Errorf("scrfd: anchors %d: must be positive", o.Anchors)
	}
	o = o.withDefaults()
	seen := map[int]bool{}
	for _, s := range o.Strides {
		if s <= 0 || seen[s] {
			return fmt.Errorf("scrfd: stride %d: must be positive and listed once", s)
		}
		seen[s] = true
	}
	k := len(o.Strides)
	if len(o.Scores) != k || len(o.Boxes) != k || len(o.Keypoints) != k {
		return fmt.Errorf("scrfd: %d scores, %d boxes and %d keypoints outputs for %d strides: want one of each per stride",
			len(o.Scores), len(o.Boxes), len(o.Keypoints), k)
	}
	return uniqueNames("scrfd", o.Scores, o.Boxes, o.Keypoints)
}

func newSCRFD(cfg Config, o SCRFDOptions) (Decoder, error) {
	o = o.withDefaults()
	return &scrfd{scores: o.Scores, boxes: o.Boxes, kps: o.Keypoints, strides: append([]int(nil), o.Strides...),
		anchors: o.Anchors, label: firstLabel(cfg.Labels, "face")}, nil
}

// Outputs lists the score outputs, then the boxes, then the keypoints,
// each stride by stride.
func (d *scrfd) Outputs() []TensorInfo {
	var out []TensorInfo
	for _, kind := range []struct {
		names  []string
		values int64
	}{{d.scores, 1}, {d.boxes, 4}, {d.kps, 2 * scrfdLandmarks}} {
		for _, n := range kind.names {
			out = append(out, TensorInfo{Name: n, DType: Float32, Shape: []int64{1, -1, kind.values}})
		}
	}
	return out
}

func (d *scrfd) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	k := len(d.strides)
	if len(outs) != 3*k {
		return nil, fmt.Errorf("scrfd: want %d outputs, got %d", 3*k, len(outs))
	}
	if err := checkLetterbox(lb); err != nil {
		return nil, fmt.Errorf("scrfd: %w", err)
	}
	if err := checkStrides(lb, d.strides); err != nil {
		return nil, fmt.Errorf("scrfd: %w", err)
	}
	var dets []Detection
	for i, s := range d.strides {
		fw := lb.DstW / s
		n := fw * (lb.DstH / s) * d.anchors
		scores, err := rows(outs[i], d.scores[i], "anchors", n, 1)
		if err != nil {
			return nil, fmt.Errorf("scrfd: %w", err)
		}
		boxes, err := rows(outs[k+i], d.boxes[i], "anchors", n, 4)
		if err != nil {
			return nil, fmt.Errorf("scrfd: %w", err)
		}
		kps, err := rows(outs[2*k+i], d.kps[i], "anchors", n, 2*scrfdLandmarks)
		if err != nil {
			return nil, fmt.Errorf("scrfd: %w", err)
		}
		for j, score := range scores {
			score = clamp01(score)
			if !(score >= threshold) { // also drops NaN
				continue
			}
			b := boxes[4*j : 4*j+4]
			if degenerate(b[0]+b[2]) || degenerate(b[1]+b[3]) {
				continue // a point, not a box: it hides nothing
			}
			cell := j / d.anchors
			dets = append(dets, d.detection(lb, s, cell%fw, cell/fw, score, b, kps[10*j:10*j+10]))
		}
	}
	return dets, nil
}

// degenerate tells whether a box side, in strides (left + right, or top
// + bottom), is about zero: SCRFD emits such points at low scores, a little
// inverted by rounding. A side clearly negative is still an inverted box,
// garbage the output check refuses.
func degenerate(side float32) bool { return side > -0.01 && side < 0.01 }

// detection decodes one anchor of stride s at cell (x, y).
func (d *scrfd) detection(lb Letterbox, s, x, y int, score float32, b, p []float32) Detection {
	sf := float32(s)
	cx, cy := float32(x*s), float32(y*s)
	pts := make([]Point, scrfdLandmarks)
	for m := range pts {
		pts[m] = pointToSource(lb, cx+p[2*m]*sf, cy+p[2*m+1]*sf)
	}
	return Detection{
		Box:       lb.mapBox(Box{cx - b[0]*sf, cy - b[1]*sf, cx + b[2]*sf, cy + b[3]*sf}),
		Score:     score,
		Label:     d.label,
		Keypoints: pts,
	}
}

// checkStrides checks that the tensor's sides are multiples of every
// stride.
func checkStrides(lb Letterbox, strides []int) error {
	for _, s := range strides {
		if lb.DstW%s != 0 || lb.DstH%s != 0 {
			return fmt.Errorf("input %dx%d is not a multiple of stride %d", lb.DstW, lb.DstH, s)
		}
	}
	return nil
}
