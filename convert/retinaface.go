package convert

import (
	"math"
)

// retinaFace decodes RetinaFace as exported by biubug6/Pytorch_Retinaface's
// convert_to_onnx.py (mobilenet0.25 or resnet50, phase 'test', so softmax is
// inside the graph), with the prior boxes decoded here:
//
//	output0 [1, N, 4]  loc: dx, dy, dw, dh relative to the prior
//	output1 [1, N, 2]  softmax; column 1 = face
//	output2 [1, N, 10] five landmarks as (dx, dy) relative to the prior
//
// Priors (data/config.py cfg_mnet, layers/functions/prior_box.py): for each
// level k (step 8, 16, 32 with min sizes [16 32], [64 128], [256 512]), a
// ceil(H/step) x ceil(W/step) feature map, row by row, then column, then
// min size; clip off. With variances (0.1, 0.2) (utils/box_utils.py decode):
// cx = p.cx + dx*0.1*p.w, cy = p.cy + dy*0.1*p.h, w = p.w*exp(dw*0.2),
// h = p.h*exp(dh*0.2); landmark k = p.xy + ldm[2k:2k+2]*0.1*p.wh.
// score = output1[:, 1].
type retinaFace struct {
	steps    []int
	minSizes [][]float32
	v        [2]float32
	priors   priorCache
	label    string
}

var (
	retinaSteps    = []int{8, 16, 32}
	retinaMinSizes = [][]float32{{16, 32}, {64, 128}, {256, 512}}
)

const retinaLandmarks = 5

func init() { Register("retinaface", newRetinaFace) }

// RetinaFaceOptions are the retinaface adapter's options, a manifest's
// [retinaface].
type RetinaFaceOptions PriorOptions

// Validate checks the prior levels and variances.
func (o RetinaFaceOptions) Validate() error {
	_, _, _, err := priorLevels("retinaface", PriorOptions(o), retinaSteps, retinaMinSizes)
	return err
}

func newRetinaFace(cfg Config, o RetinaFaceOptions) (Decoder, error) {
	steps, sizes, v, err := priorLevels("retinaface", PriorOptions(o), retinaSteps, retinaMinSizes)
	if err != nil {
		return nil, err
	}
	d := &retinaFace{steps: steps, minSizes: sizes, v: v, label: firstLabel(cfg.Labels, "face")}
	d.priors = newPriorCache(cfg.InputW, cfg.InputH, d.makePriors)
	return d, nil
}

func (d *retinaFace) makePriors(w, h int) []prior {
	rows, cols := make([]int, len(d.steps)), make([]int, len(d.steps))
	for k, s := range d.steps {
		rows[k], cols[k] = (h+s-1)/s, (w+s-1)/s
	}
	return makePriors(d.steps, d.minSizes, rows, cols)
}

var retinaContract = []TensorInfo{
	{Name: "output0", DType: Float32, Shape: []int64{1, -1, 4}},
	{Name: "output1", DType: Float32, Shape: []int64{1, -1, 2}},
	{Name: "output2", DType: Float32, Shape: []int64{1, -1, 2 * retinaLandmarks}},
}

// Outputs lists loc, conf, landmarks; N is the prior count for a fixed
// input size.
func (d *retinaFace) Outputs() []TensorInfo {
	out := cloneInfos(retinaContract)
	for i := range out {
		out[i].Shape[1] = d.priors.count()
	}
	return out
}

func (d *retinaFace) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	priors, data, err := priorRows("retinaface", retinaContract, 2, d.priors, outs, lb)
	if err != nil {
		return nil, err
	}
	loc, conf, ldm := data[0], data[1], data[2]
	v0, v1 := d.v[0], d.v[1]
	var dets []Detection
	for i, p := range priors {
		score := conf[2*i+1]
		if !(score >= threshold) { // also drops NaN
			continue
		}
		l := loc[4*i : 4*i+4]
		cx, cy := p.cx+l[0]*v0*p.w, p.cy+l[1]*v0*p.h
		w := p.w * float32(math.Exp(float64(l[2]*v1)))
		h := p.h * float32(math.Exp(float64(l[3]*v1)))
		m := ldm[10*i : 10*i+10]
		pts := make([]Point, retinaLandmarks)
		for k := range pts {
			pts[k] = pointToSource(lb, p.cx+m[2*k]*v0*p.w, p.cy+m[2*k+1]*v0*p.h)
		}
		dets = append(dets, Detection{
			Box:       lb.mapBox(Box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}),
			Score:     score,
			Class:     0,
			Label:     d.label,
			Keypoints: pts,
		})
	}
	return dets, nil
}
