package convert

import (
	"fmt"
	"math"
)

// tfod decodes the serving signature of a TensorFlow Object Detection API
// export (exporter_main_v2.py), after NMS inside the graph:
//
//	detection_boxes   [1, N, 4] ymin, xmin, ymax, xmax in 0..1 of the input tensor
//	detection_scores  [1, N]
//	detection_classes [1, N]    raw class id as a float (label map ids, from 1)
//	num_detections    [1]       how many of the N rows are valid
type tfod struct {
	labels []string
	base   int
}

var tfodOutputs = []TensorInfo{
	{Name: "detection_boxes", DType: Float32, Shape: []int64{1, -1, 4}},
	{Name: "detection_scores", DType: Float32, Shape: []int64{1, -1}},
	{Name: "detection_classes", DType: Float32, Shape: []int64{1, -1}},
	{Name: "num_detections", DType: Float32, Shape: []int64{1}},
}

func init() { Register("tfod", newTFOD) }

func newTFOD(cfg Config, _ NoOptions) (Decoder, error) {
	return &tfod{labels: append([]string(nil), cfg.Labels...), base: cfg.LabelBase}, nil
}

func (d *tfod) Outputs() []TensorInfo {
	out := make([]TensorInfo, len(tfodOutputs))
	for i, t := range tfodOutputs {
		t.Shape = append([]int64(nil), t.Shape...)
		out[i] = t
	}
	return out
}

func (d *tfod) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	if len(outs) != len(tfodOutputs) {
		return nil, fmt.Errorf("tfod: want %d outputs, got %d", len(tfodOutputs), len(outs))
	}
	if err := checkLetterbox(lb); err != nil {
		return nil, fmt.Errorf("tfod: %w", err)
	}
	n := len(outs[1].Data)
	scores, err := rows(outs[1], tfodOutputs[1].Name, "detections", n, 1)
	if err != nil {
		return nil, fmt.Errorf("tfod: %w", err)
	}
	boxes, err := rows(outs[0], tfodOutputs[0].Name, "detections", n, 4)
	if err != nil {
		return nil, fmt.Errorf("tfod: %w", err)
	}
	classes, err := rows(outs[2], tfodOutputs[2].Name, "detections", n, 1)
	if err != nil {
		return nil, fmt.Errorf("tfod: %w", err)
	}
	num := outs[3]
	if num.Name != "" && num.Name != tfodOutputs[3].Name {
		return nil, fmt.Errorf("tfod: output %q: got output %q in its place", tfodOutputs[3].Name, num.Name)
	}
	if len(num.Data) != 1 {
		return nil, fmt.Errorf("tfod: output %q: want 1 value, got %d", tfodOutputs[3].Name, len(num.Data))
	}
	v := float64(num.Data[0])
	if math.IsNaN(v) || v < 0 || v > float64(n) {
		return nil, fmt.Errorf("tfod: %w: num_detections %g is outside 0..%d (the rows of %s)", ErrInvalidOutput, v, n, tfodOutputs[1].Name)
	}
	count := min(int(math.Round(v)), n)

	w, h := float32(lb.DstW), float32(lb.DstH)
	var dets []Detection
	for i := range count {
		if !(scores[i] >= threshold) {
			continue
		}
		b := boxes[4*i : 4*i+4] // ymin, xmin, ymax, xmax
		c := int(math.Round(float64(classes[i])))
		class := c - d.base
		label := fmt.Sprintf("class %d", c)
		if class >= 0 && class < len(d.labels) {
			label = d.labels[class]
		}
		dets = append(dets, Detection{
			Box:   lb.mapBox(Box{b[1] * w, b[0] * h, b[3] * w, b[2] * h}),
			Score: scores[i],
			Class: class,
			Label: label,
		})
	}
	return dets, nil
}
