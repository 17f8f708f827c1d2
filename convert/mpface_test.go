package convert

import (
	"testing"
)

// mpLB: a 512x256 source at scale 0.5 at the top left of a 256x256
// tensor: content 256x128. source = tensor * 2.
var mpLB = Letterbox{SrcW: 512, SrcH: 256, DstW: 256, DstH: 256, ScaleX: 0.5, ScaleY: 0.5, ContentW: 256, ContentH: 128}

// mpOutputs: batch items of three candidates each; only the first item
// counts (the second has every score 1).
func mpOutputs(batch int64) []Output {
	scores := []float32{0.9, 0.6, 0.2}
	boxes := []float32{
		10, 20, 50, 70, // -> source (20, 40, 100, 140)
		200, 100, 300, 140, // -> source (400, 200, 600, 280), clipped
		0, 0, 10, 10,
	}
	lms := filled(3*12, 0)
	for k := range 6 {
		lms[2*k], lms[2*k+1] = float32(10+k), float32(30+k) // -> (20+2k, 60+2k)
	}
	for range batch - 1 {
		scores = append(scores, 1, 1, 1)
		boxes = append(boxes, filled(12, 0)...)
		lms = append(lms, filled(36, 0)...)
	}
	return []Output{
		mkOut("scores", scores, batch, 3),
		mkOut("boxes", boxes, batch, 3, 4),
		mkOut("landmarks", lms, batch, 3, 6, 2),
	}
}

func TestMPFaceDecode(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "mpface"})
	if err != nil {
		t.Fatal(err)
	}
	checkInfos(t, d.Outputs(), []TensorInfo{
		{"scores", Float32, []int64{-1, -1}},
		{"boxes", Float32, []int64{-1, -1, 4}},
		{"landmarks", Float32, []int64{-1, -1, 6, 2}},
	})
	a := wantDet{box: Box{20, 40, 100, 140}, score: 0.9, label: "face", kps: map[int]Point{0: {20, 60}, 5: {30, 70}}}
	b := wantDet{box: Box{400, 200, 512, 256}, score: 0.6, label: "face"}
	tests := []struct {
		name      string
		batch     int64
		threshold float32
		want      []wantDet
	}{
		{"threshold 0.7 keeps one", 1, 0.7, []wantDet{a}},
		{"threshold 0.6 keeps two (>=)", 1, 0.6, []wantDet{a, b}},
		{"threshold 0.95 keeps none", 1, 0.95, nil},
		{"batch of 2: the first image only", 2, 0.6, []wantDet{a, b}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(mpOutputs(tc.batch), mpLB, tc.threshold)
			if err != nil {
				t.Fatal(err)
			}
			checkDets(t, dets, tc.want)
			for _, g := range dets {
				if len(g.Keypoints) != 6 {
					t.Errorf("%d keypoints, want 6", len(g.Keypoints))
				}
			}
		})
	}
}

func TestMPFaceDecodeErrors(t *testing.T) {
	d, _ := newDec(testCfg{Adapter: "mpface"})
	o := func() []Output { return mpOutputs(1) }
	with := func(i int, out Output) []Output { outs := o(); outs[i] = out; return outs }
	tests := []decodeErrCase{
		{"boxes for 2 candidates", with(1, mkOut("boxes", filled(8, 0), 1, 2, 4)), mpLB, `"boxes"`},
		{"5 landmarks", with(2, mkOut("landmarks", filled(30, 0), 1, 3, 5, 2)), mpLB, `"landmarks"`},
		{"landmarks flat", with(2, mkOut("landmarks", filled(36, 0), 1, 3, 12)), mpLB, `"landmarks"`},
		{"scores without batch", with(0, mkOut("scores", filled(3, 0), 3)), mpLB, `"scores"`},
		{"empty batch", with(0, mkOut("scores", nil, 0, 3)), mpLB, `"scores"`},
		{"shape disagrees with data", with(1, mkOut("boxes", filled(11, 0), 1, 3, 4)), mpLB, `"boxes"`},
		{"boxes and landmarks swapped", []Output{o()[0], o()[2], o()[1]}, mpLB, `"boxes"`},
		{"two outputs", o()[:2], mpLB, "want 3 outputs"},
		{"zero letterbox", o(), Letterbox{DstW: 256, DstH: 256}, "letterbox"},
	}
	checkDecodeErrors(t, d, tests)
}

// ---- LPD-YuNet ----
