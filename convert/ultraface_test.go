package convert

import (
	"testing"
)

// ultraLB: a 640x240 source at scale 0.5, centred in a 320x240 tensor:
// content 320x120 at (0, 60). source = (tensor - pad) * 2.
var ultraLB = Letterbox{SrcW: 640, SrcH: 240, DstW: 320, DstH: 240, ScaleX: 0.5, ScaleY: 0.5, PadY: 60, ContentW: 320, ContentH: 120}

// ultraOutputs: five boxes, corners in 0..1 of the 320x240 tensor.
func ultraOutputs() []Output {
	scores := []float32{
		0.1, 0.9, // face 0.9
		0.3, 0.7, // face 0.7
		0.5, 0.5, // face 0.5, box partly outside the source
		0.95, 0.05, // background
		0.99, 0.01, // face 0.01: never kept
	}
	boxes := []float32{
		0.25, 0.5, 0.5, 0.75, // tensor (80, 120, 160, 180) -> source (160, 120, 320, 240)
		0, 0.25, 0.125, 0.375, // tensor (0, 60, 40, 90) -> source (0, 0, 80, 60)
		0.5, 0.5, 1, 1, // tensor (160, 120, 320, 240) -> source (320, 120, 640, 360), clipped to y 240
		0, 0, 1, 1,
		0, 0, 1, 1,
	}
	return []Output{mkOut("scores", scores, 1, 5, 2), mkOut("boxes", boxes, 1, 5, 4)}
}

func TestUltraFaceDecode(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "ultraface"})
	if err != nil {
		t.Fatal(err)
	}
	checkInfos(t, d.Outputs(), []TensorInfo{
		{"scores", Float32, []int64{1, -1, 2}},
		{"boxes", Float32, []int64{1, -1, 4}},
	})
	a := wantDet{box: Box{160, 120, 320, 240}, score: 0.9, label: "face"}
	b := wantDet{box: Box{0, 0, 80, 60}, score: 0.7, label: "face"}
	c := wantDet{box: Box{320, 120, 640, 240}, score: 0.5, label: "face"}
	tests := []struct {
		name      string
		threshold float32
		want      []wantDet
	}{
		{"threshold 0.8 keeps one", 0.8, []wantDet{a}},
		{"threshold 0.7 keeps two (>=)", 0.7, []wantDet{a, b}},
		{"threshold 0.3 keeps the faces, not the background", 0.3, []wantDet{a, b, c}},
		{"threshold 0.95 keeps none", 0.95, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(ultraOutputs(), ultraLB, tc.threshold)
			if err != nil {
				t.Fatal(err)
			}
			checkDets(t, dets, tc.want)
		})
	}
	t.Run("label from the manifest", func(t *testing.T) {
		d, _ := newDec(testCfg{Adapter: "ultraface", Labels: []string{"head"}})
		dets, err := d.Decode(ultraOutputs(), ultraLB, 0.8)
		if err != nil {
			t.Fatal(err)
		}
		checkDets(t, dets, []wantDet{{box: a.box, score: 0.9, label: "head"}})
	})
}

func TestUltraFaceDecodeErrors(t *testing.T) {
	d, _ := newDec(testCfg{Adapter: "ultraface"})
	o := ultraOutputs
	tests := []decodeErrCase{
		{"boxes one row short", []Output{o()[0], mkOut("boxes", filled(16, 0), 1, 4, 4)}, ultraLB, `"boxes"`},
		{"scores of 3 classes", []Output{mkOut("scores", filled(15, 0), 1, 5, 3), o()[1]}, ultraLB, `"scores"`},
		{"outputs swapped", []Output{o()[1], o()[0]}, ultraLB, `"scores"`},
		{"one output", o()[:1], ultraLB, "want 2 outputs"},
		{"shape disagrees with data", []Output{mkOut("scores", filled(10, 0), 1, 6, 2), o()[1]}, ultraLB, `"scores"`},
		{"zero letterbox", o(), Letterbox{DstW: 320, DstH: 240}, "letterbox"},
	}
	checkDecodeErrors(t, d, tests)
}

// ---- RetinaFace ----
