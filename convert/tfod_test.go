package convert

import (
	"strings"
	"testing"
)

// tfodLB: a 400x160 source at scale 0.5 in a 200x100 tensor, content 200x80
// at (0, 10). source = (tensor - pad) * 2. The tensor is not square, so
// swapped axes show.
var tfodLB = Letterbox{SrcW: 400, SrcH: 160, DstW: 200, DstH: 100, ScaleX: 0.5, ScaleY: 0.5, PadX: 0, PadY: 10, ContentW: 200, ContentH: 80}

func tfodOutputsFor(num float32) []Output {
	boxes := []float32{
		0.2, 0.1, 0.6, 0.5, // tensor x 20..100, y 20..60 -> source (40, 20, 200, 100)
		0.1, 0.5, 0.3, 0.6, // tensor x 100..120, y 10..30 -> source (200, 0, 240, 40)
		0.5, 0.5, 0.9, 0.9, // below threshold
		0.0, 0.0, 1.0, 1.0, // past num_detections
		0.0, 0.0, 0.5, 0.5, // class 1.9999 rounds to 2 -> "plate"; past num when num = 4
	}
	return []Output{
		mkOut("detection_boxes", boxes, 1, 5, 4),
		mkOut("detection_scores", []float32{0.9, 0.8, 0.3, 0.95, 0.7}, 1, 5),
		mkOut("detection_classes", []float32{1, 3, 1, 1, 1.9999}, 1, 5),
		mkOut("num_detections", []float32{num}, 1),
	}
}

func TestTFODDecode(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "tfod", Labels: []string{"face", "plate"}, LabelBase: 1})
	if err != nil {
		t.Fatal(err)
	}
	face := wantDet{box: Box{40, 20, 200, 100}, score: 0.9, class: 0, label: "face"}
	unknown := wantDet{box: Box{200, 0, 240, 40}, score: 0.8, class: 2, label: "class 3"}
	past := wantDet{box: Box{0, 0, 400, 160}, score: 0.95, class: 0, label: "face"}
	plate := wantDet{box: Box{0, 0, 200, 80}, score: 0.7, class: 1, label: "plate"}
	tests := []struct {
		name      string
		num       float32
		threshold float32
		want      []wantDet
	}{
		{"num 3, threshold 0.5", 3, 0.5, []wantDet{face, unknown}},
		{"num 3, threshold 0.25", 3, 0.25, []wantDet{face, unknown, {box: Box{200, 80, 360, 160}, score: 0.3, label: "face"}}},
		{"num 4 reaches the 0.95 row", 4, 0.5, []wantDet{past, face, unknown}},
		{"num N", 5, 0.5, []wantDet{past, face, unknown, plate}},
		{"num 0", 0, 0.1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(tfodOutputsFor(tc.num), tfodLB, tc.threshold)
			if err != nil {
				t.Fatal(err)
			}
			checkDets(t, dets, tc.want)
		})
	}
}

func TestTFODNoLabels(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "tfod"})
	if err != nil {
		t.Fatal(err)
	}
	dets, err := d.Decode(tfodOutputsFor(1), tfodLB, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	checkDets(t, dets, []wantDet{{box: Box{40, 20, 200, 100}, score: 0.9, class: 1, label: "class 1"}})
}

func TestTFODOutputsAndErrors(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "tfod"})
	if err != nil {
		t.Fatal(err)
	}
	checkInfos(t, d.Outputs(), []TensorInfo{
		{"detection_boxes", Float32, []int64{1, -1, 4}},
		{"detection_scores", Float32, []int64{1, -1}},
		{"detection_classes", Float32, []int64{1, -1}},
		{"num_detections", Float32, []int64{1}},
	})
	tests := []struct {
		name   string
		mutate func([]Output) []Output
		want   string
	}{
		{"boxes short", func(o []Output) []Output { o[0] = mkOut("detection_boxes", filled(16, 0), 1, 4, 4); return o }, `"detection_boxes"`},
		{"classes short", func(o []Output) []Output { o[2] = mkOut("detection_classes", filled(4, 0), 1, 4); return o }, `"detection_classes"`},
		{"num empty", func(o []Output) []Output { o[3] = mkOut("num_detections", nil, 0); return o }, `"num_detections"`},
		{"swapped", func(o []Output) []Output { o[1], o[2] = o[2], o[1]; return o }, `"detection_scores"`},
		{"three outputs", func(o []Output) []Output { return o[:3] }, "want 4 outputs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Decode(tc.mutate(tfodOutputsFor(3)), tfodLB, 0.5)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %s", err, tc.want)
			}
		})
	}
}

// ---- BlazeFace ----
