package convert

import "fmt"

// ultraFace decodes the UltraFace detectors of
// Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB (version-slim-320,
// version-RFB-320, version-RFB-640) in their "with postprocessing" ONNX
// export, where the prior boxes are already decoded inside the graph:
//
//	scores [1, N, 2] softmax; column 0 background, column 1 face
//	boxes  [1, N, 4] x1, y1, x2, y2 in 0..1 of the input tensor
//
// The authors stretch the frame to the input (no letterbox); boxes are
// mapped through whatever letterbox was used, so any fit works.
// score = scores[:, 1]; NMS is left to the caller (authors: IoU 0.3).
type ultraFace struct {
	label string
}

var ultraContract = []TensorInfo{
	{Name: "scores", DType: Float32, Shape: []int64{1, -1, 2}},
	{Name: "boxes", DType: Float32, Shape: []int64{1, -1, 4}},
}

func init() { Register("ultraface", newUltraFace) }

func newUltraFace(cfg Config, _ NoOptions) (Decoder, error) {
	return &ultraFace{label: firstLabel(cfg.Labels, "face")}, nil
}

// Outputs lists scores, then boxes.
func (d *ultraFace) Outputs() []TensorInfo { return cloneInfos(ultraContract) }

func (d *ultraFace) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	if len(outs) != len(ultraContract) {
		return nil, fmt.Errorf("ultraface: want %d outputs, got %d", len(ultraContract), len(outs))
	}
	if err := checkLetterbox(lb); err != nil {
		return nil, fmt.Errorf("ultraface: %w", err)
	}
	n := len(outs[0].Data) / 2
	scores, err := rows(outs[0], "scores", "boxes", n, 2)
	if err != nil {
		return nil, fmt.Errorf("ultraface: %w", err)
	}
	boxes, err := rows(outs[1], "boxes", "boxes", n, 4)
	if err != nil {
		return nil, fmt.Errorf("ultraface: %w", err)
	}
	w, h := float32(lb.DstW), float32(lb.DstH)
	var dets []Detection
	for i := range n {
		score := scores[2*i+1]
		if !(score >= threshold) { // also drops NaN
			continue
		}
		b := boxes[4*i : 4*i+4]
		dets = append(dets, Detection{
			Box:   lb.mapBox(Box{b[0] * w, b[1] * h, b[2] * w, b[3] * h}),
			Score: score,
			Class: 0,
			Label: d.label,
		})
	}
	return dets, nil
}

// cloneInfos deep-copies a contract, so callers cannot change the original.
func cloneInfos(in []TensorInfo) []TensorInfo {
	out := make([]TensorInfo, len(in))
	for i, t := range in {
		t.Shape = append([]int64(nil), t.Shape...)
		out[i] = t
	}
	return out
}
