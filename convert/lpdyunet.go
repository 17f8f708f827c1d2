package convert

import (
	"math"
)

// lpdYuNet decodes OpenCV Zoo's license-plate detector LPD-YuNet
// (license_plate_detection_lpd_yunet_2023mar.onnx and its int8 version), a
// YuNet-v1 style head with prior boxes, unlike the anchor-free yunet
// adapter. Outputs have no batch dimension:
//
//	loc  [N, 14] per prior: 4 box values, then 5 points as (dx, dy); the
//	             plate's 4 corners are the points at columns 4, 6, 10, 12
//	conf [N, 2]  softmax; column 1 = plate
//	iou  [N, 1]  predicted IoU
//
// Priors (lpd_yunet.py _priorGen): fm2 = (int(int((h+1)/2)/2),
// int(int((w+1)/2)/2)), each next level halves the previous (integer
// division) starting from fm2/2; steps 8, 16, 32, 64 with min sizes
// [10 16 24], [32 48], [64 96], [128 192 256]; cells row by row, then
// column, then min size, centred at ((j+0.5)*step, (i+0.5)*step).
// corner = p.xy + loc[a:a+2]*0.1*p.wh (the centre variance);
// score = sqrt(conf[:, 1] * clamp(iou, 0, 1)).
//
// Box is the axis-aligned bounding box of the 4 corners; Keypoints are the
// corners in the model's order (usually top-left, top-right, bottom-right,
// bottom-left, not guaranteed).
type lpdYuNet struct {
	steps    []int
	minSizes [][]float32
	v        [2]float32
	priors   priorCache
	label    string
}

var (
	lpdSteps    = []int{8, 16, 32, 64}
	lpdMinSizes = [][]float32{{10, 16, 24}, {32, 48}, {64, 96}, {128, 192, 256}}
	// lpdCorners are the loc columns of the 4 corner points.
	lpdCorners = [4]int{4, 6, 10, 12}
)

const lpdLoc = 14

func init() { Register("lpd_yunet", newLPDYuNet) }

// LPDYuNetOptions are the lpd_yunet adapter's options, a manifest's
// [lpd_yunet].
type LPDYuNetOptions PriorOptions

// Validate checks the prior levels and variances.
func (o LPDYuNetOptions) Validate() error {
	_, _, _, err := priorLevels("lpd_yunet", PriorOptions(o), lpdSteps, lpdMinSizes)
	return err
}

func newLPDYuNet(cfg Config, o LPDYuNetOptions) (Decoder, error) {
	steps, sizes, v, err := priorLevels("lpd_yunet", PriorOptions(o), lpdSteps, lpdMinSizes)
	if err != nil {
		return nil, err
	}
	d := &lpdYuNet{steps: steps, minSizes: sizes, v: v, label: firstLabel(cfg.Labels, "plate")}
	d.priors = newPriorCache(cfg.InputW, cfg.InputH, d.makePriors)
	return d, nil
}

func (d *lpdYuNet) makePriors(w, h int) []prior {
	rows, cols := make([]int, len(d.steps)), make([]int, len(d.steps))
	fh, fw := (h+1)/2/2, (w+1)/2/2 // fm2
	for k := range d.steps {
		fh, fw = fh/2, fw/2
		rows[k], cols[k] = fh, fw
	}
	return makePriors(d.steps, d.minSizes, rows, cols)
}

var lpdContract = []TensorInfo{
	{Name: "loc", DType: Float32, Shape: []int64{-1, lpdLoc}},
	{Name: "conf", DType: Float32, Shape: []int64{-1, 2}},
	{Name: "iou", DType: Float32, Shape: []int64{-1, 1}},
}

// Outputs lists loc, conf, iou; N is the prior count for a fixed input size.
func (d *lpdYuNet) Outputs() []TensorInfo {
	out := cloneInfos(lpdContract)
	for i := range out {
		out[i].Shape[0] = d.priors.count()
	}
	return out
}

func (d *lpdYuNet) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	priors, data, err := priorRows("lpd_yunet", lpdContract, 1, d.priors, outs, lb)
	if err != nil {
		return nil, err
	}
	loc, conf, iou := data[0], data[1], data[2]
	v0 := d.v[0]
	var dets []Detection
	for i, p := range priors {
		score := float32(math.Sqrt(float64(clamp01(conf[2*i+1]) * clamp01(iou[i]))))
		if !(score >= threshold) { // also drops NaN
			continue
		}
		l := loc[lpdLoc*i : lpdLoc*(i+1)]
		box := Box{X1: float32(math.Inf(1)), Y1: float32(math.Inf(1)), X2: float32(math.Inf(-1)), Y2: float32(math.Inf(-1))}
		pts := make([]Point, len(lpdCorners))
		for k, a := range lpdCorners {
			x, y := p.cx+l[a]*v0*p.w, p.cy+l[a+1]*v0*p.h
			box = Box{min(box.X1, x), min(box.Y1, y), max(box.X2, x), max(box.Y2, y)}
			pts[k] = pointToSource(lb, x, y)
		}
		dets = append(dets, Detection{
			Box:       lb.mapBox(box),
			Score:     score,
			Class:     0,
			Label:     d.label,
			Keypoints: pts,
		})
	}
	return dets, nil
}
