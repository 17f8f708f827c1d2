package convert

import (
	"testing"
)

// lpdCfg: a 32x16 input with two levels: fm2 = (int(17/2)/2,
// int(33/2)/2) = (4, 8); step 8, min size 8 on a 2x4 map (priors 0..7),
// step 16, min size 16 on a 1x2 map (priors 8, 9).
var lpdCfg = testCfg{
	Adapter: "lpd_yunet", InputW: 32, InputH: 16,
	PriorSteps: []int{8, 16}, PriorMinSizes: [][]float32{{8}, {16}},
}

// lpdLB: a 64x24 source at scale 0.5 at the top left of the 32x16
// tensor: content 32x12. source = tensor * 2.
var lpdLB = Letterbox{SrcW: 64, SrcH: 24, DstW: 32, DstH: 16, ScaleX: 0.5, ScaleY: 0.5, ContentW: 32, ContentH: 12}

// lpdOutputs:
//   - prior 1 (row 0, col 1: centre (12, 4), size 8): conf 0.9, iou 0.9
//     (score 0.9), corners (-2, -1), (3, -1.5), (3, 1), (-2.5, 1.5) in
//     columns 4, 6, 10, 12; the box columns 0..3 and the middle point
//     (8, 9) hold 50, which must not count;
//   - prior 9 (level 1, col 1: centre (24, 8), size 16): conf 0.5, iou 1.5
//     (clamped to 1: score sqrt(0.5) = 0.707107), corners (-1, -1), (1, -1),
//     (1, 1), (-1, 1);
//   - prior 2: conf 0.25, iou 1 (score 0.5);
//   - prior 0: conf 1, iou -0.5 (clamped to 0: score 0).
func lpdOutputs() []Output {
	loc, conf, iou := filled(10*14, 0), filled(10*2, 0), filled(10, 0)
	copy(loc[14*1:], []float32{50, 50, 50, 50, -2, -1, 3, -1.5, 50, 50, 3, 1, -2.5, 1.5})
	conf[2*1+1], iou[1] = 0.9, 0.9
	copy(loc[14*9+4:], []float32{-1, -1, 1, -1, 0, 0, 1, 1, -1, 1})
	conf[2*9+1], iou[9] = 0.5, 1.5
	conf[2*2+1], iou[2] = 0.25, 1
	conf[1], iou[0] = 1, -0.5
	return []Output{mkOut("loc", loc, 10, 14), mkOut("conf", conf, 10, 2), mkOut("iou", iou, 10, 1)}
}

// Prior 1 corners (0.1*8 = 0.8 px per unit): (10.4, 3.2), (14.4, 2.8),
// (14.4, 4.8), (10, 5.2) -> source (20.8, 6.4), (28.8, 5.6), (28.8, 9.6),
// (20, 10.4); box = their bounds (20, 5.6, 28.8, 10.4).
var lpdStrong = wantDet{
	box: Box{20, 5.6, 28.8, 10.4}, score: 0.9, label: "plate",
	kps: map[int]Point{0: {20.8, 6.4}, 1: {28.8, 5.6}, 2: {28.8, 9.6}, 3: {20, 10.4}},
}

// Prior 9 corners (1.6 px per unit): (22.4, 6.4) .. (25.6, 9.6) -> source
// (44.8, 12.8, 51.2, 19.2).
var lpdSecond = wantDet{box: Box{44.8, 12.8, 51.2, 19.2}, score: 0.707107, label: "plate"}

// Prior 2 (centre (20, 4)), corners at the centre -> source (40, 8).
var lpdWeak = wantDet{box: Box{40, 8, 40, 8}, score: 0.5, label: "plate"}

func TestLPDYuNetDecode(t *testing.T) {
	d, err := newDec(lpdCfg)
	if err != nil {
		t.Fatal(err)
	}
	checkInfos(t, d.Outputs(), []TensorInfo{
		{"loc", Float32, []int64{10, 14}},
		{"conf", Float32, []int64{10, 2}},
		{"iou", Float32, []int64{10, 1}},
	})
	tests := []struct {
		name      string
		threshold float32
		want      []wantDet
	}{
		{"threshold 0.8 keeps one", 0.8, []wantDet{lpdStrong}},
		{"threshold 0.7 keeps two", 0.7, []wantDet{lpdStrong, lpdSecond}},
		{"threshold 0.5 keeps three (>=)", 0.5, []wantDet{lpdStrong, lpdSecond, lpdWeak}},
		{"threshold 0.95 keeps none", 0.95, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(lpdOutputs(), lpdLB, tc.threshold)
			if err != nil {
				t.Fatal(err)
			}
			checkDets(t, dets, tc.want)
			for _, g := range dets {
				if len(g.Keypoints) != 4 {
					t.Errorf("%d keypoints, want the 4 corners", len(g.Keypoints))
				}
			}
		})
	}
}

// TestLPDYuNetPriorCount: OpenCV Zoo's 320x240 input has 4385 priors; at
// 320x247 the zoo's halving chain (fm2 = int(int(248/2)/2) = 62, then 31)
// gives 31 rows at step 8, where 247/8 would give 30: 4505 priors.
func TestLPDYuNetPriorCount(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		want int64
	}{{320, 240, 4385}, {320, 247, 4505}, {0, 0, -1}} {
		d, err := newDec(testCfg{Adapter: "lpd_yunet", InputW: tc.w, InputH: tc.h})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range d.Outputs() {
			if o.Shape[0] != tc.want {
				t.Errorf("%dx%d: output %q has shape %v, want %d priors", tc.w, tc.h, o.Name, o.Shape, tc.want)
			}
		}
	}
}

func TestLPDYuNetDecodeErrors(t *testing.T) {
	d, _ := newDec(lpdCfg)
	o := lpdOutputs
	with := func(i int, out Output) []Output { outs := o(); outs[i] = out; return outs }
	tests := []decodeErrCase{
		{"loc one prior short", with(0, mkOut("loc", filled(9*14, 0), 9, 14)), lpdLB, `"loc"`},
		{"loc of YuNet-v2 width", with(0, mkOut("loc", filled(10*15, 0), 10, 15)), lpdLB, `"loc"`},
		{"iou for 11 priors", with(2, mkOut("iou", filled(11, 0), 11, 1)), lpdLB, `"iou"`},
		{"conf and iou swapped", []Output{o()[0], o()[2], o()[1]}, lpdLB, `"conf"`},
		{"two outputs", o()[:2], lpdLB, "want 3 outputs"},
		{"zero letterbox", o(), Letterbox{DstW: 32, DstH: 16}, "letterbox"},
	}
	checkDecodeErrors(t, d, tests)
}

// ---- NanoDet ----
