package convert

import (
	"fmt"
	"math"
	"testing"
)

// logit is the inverse of the sigmoid.
func logit(p float64) float32 { return float32(math.Log(p / (1 - p))) }

// yoloLB: a 128x64 source at scale 0.5 in a 64x32 tensor, top left.
var yoloLB = scrfdLB

// yoloOutputs builds the 3 head outputs [1, 3, h, w, 16] of a 64x32 tensor
// (8x4, 4x2 and 2x1 cells), every logit -10 (score about 2e-9) except:
//   - stride 16, anchor 1 (43x55), cell (x=2, y=1) = index 1*8 + 1*4 + 2 =
//     14: box S = (0.5, 0.25, 0.5, 0.25), obj 0.8, cls 0.9 (score 0.72),
//     landmarks 0 = (0.5, -0.2) and 4 = (-0.25, 0.1);
//   - stride 8, anchor 0 (4x5), cell (x=3, y=2) = index 19: box S all 0.5,
//     obj 0.5, cls 0.8 (score 0.4);
//   - stride 32, anchor 0 (146x217), cell (x=1, y=0) = index 1: box S all
//     0.5, obj 0.95, cls 0.95 (score 0.9025), larger than the frame.
func yoloOutputs() []Output {
	var outs []Output
	for _, s := range []int{8, 16, 32} {
		w, h := 64/s, 32/s
		outs = append(outs, mkOut(fmt.Sprintf("stride_%d", s), filled(3*h*w*16, -10), 1, 3, int64(h), int64(w), 16))
	}
	set := func(o, j int, v ...float32) { copy(outs[o].Data[j*16:], v) }
	half := logit(0.5)
	set(1, 14, half, logit(0.25), half, logit(0.25), logit(0.8), 0.5, -0.2, 0, 0, 0, 0, 0, 0, -0.25, 0.1, logit(0.9))
	set(0, 19, half, half, half, half, logit(0.5), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, logit(0.8))
	set(2, 1, half, half, half, half, logit(0.95), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, logit(0.95))
	return outs
}

// Stride 16: cx = (2*0.5 - 0.5 + 2)*16 = 40, cy = (2*0.25 - 0.5 + 1)*16 =
// 16, w = (2*0.5)^2*43 = 43, h = (2*0.25)^2*55 = 13.75 -> (18.5, 9.125,
// 61.5, 22.875) -> source (37, 18.25, 123, 45.75). Landmark 0 =
// (0.5*43 + 32, -0.2*55 + 16) = (53.5, 5) -> (107, 10); landmark 4 =
// (-0.25*43 + 32, 0.1*55 + 16) = (21.25, 21.5) -> (42.5, 43).
var yoloStrong = wantDet{box: Box{37, 18.25, 123, 45.75}, score: 0.72, label: "face", kps: map[int]Point{0: {107, 10}, 4: {42.5, 43}}}

// Stride 8: cx = 3.5*8 = 28, cy = 2.5*8 = 20, 4x5 -> (26, 17.5, 30, 22.5)
// -> source (52, 35, 60, 45); landmark 0 at the cell's corner (24, 16) ->
// (48, 32).
var yoloWeak = wantDet{box: Box{52, 35, 60, 45}, score: 0.4, label: "face", kps: map[int]Point{0: {48, 32}}}

// Stride 32: centre (48, 16), 146x217 -> (-25, -92.5, 121, 124.5) ->
// source (-50, -185, 242, 249), clipped to the 128x64 frame.
var yoloBig = wantDet{box: Box{0, 0, 128, 64}, score: 0.9025, label: "face"}

func newYOLOTest(t *testing.T, o YOLOv5FaceOptions) Decoder {
	t.Helper()
	d, err := NewDecoder("yolov5face", Config{}, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestYOLOv5FaceDecode(t *testing.T) {
	d := newYOLOTest(t, YOLOv5FaceOptions{})
	tests := []struct {
		name      string
		threshold float32
		want      []wantDet
	}{
		{"threshold 0.8 keeps the big one", 0.8, []wantDet{yoloBig}},
		{"threshold 0.5 keeps two", 0.5, []wantDet{yoloBig, yoloStrong}},
		{"threshold 0.3 keeps three", 0.3, []wantDet{yoloBig, yoloStrong, yoloWeak}},
		{"threshold 0.95 keeps none", 0.95, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(yoloOutputs(), yoloLB, tc.threshold)
			if err != nil {
				t.Fatal(err)
			}
			checkDets(t, dets, tc.want)
			for _, g := range dets {
				if len(g.Keypoints) != 5 {
					t.Errorf("%d keypoints, want 5", len(g.Keypoints))
				}
			}
		})
	}
}

// TestYOLOv5FaceOptions: other anchors and output names are read from the
// options; bad options are refused.
func TestYOLOv5FaceOptions(t *testing.T) {
	d := newYOLOTest(t, YOLOv5FaceOptions{Strides: []int{16}, Outputs: []string{"p4"}, Anchors: [][]float32{{10, 10, 86, 110, 20, 20}}})
	checkInfos(t, d.Outputs(), []TensorInfo{{"p4", Float32, []int64{1, 3, -1, -1, 16}}})
	o := yoloOutputs()[1]
	o.Name = "p4"
	dets, err := d.Decode([]Output{o}, yoloLB, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// Anchor 1 is now 86x110, twice as wide and high: (-3, 2.25, 83, 29.75)
	// -> source (-6, 4.5, 166, 59.5), clipped; landmark 0 = (0.5*86 + 32,
	// -0.2*110 + 16) = (75, -6) -> (150, -12), clipped.
	checkDets(t, dets, []wantDet{{box: Box{0, 4.5, 128, 59.5}, score: 0.72, label: "face", kps: map[int]Point{0: {128, 0}}}})

	for _, o := range []YOLOv5FaceOptions{
		{Strides: []int{8, -8}}, {Strides: []int{8, 8}}, {Outputs: []string{"a", "b"}},
		{Outputs: []string{"a", "a", "b"}}, {Anchors: [][]float32{{1, 2}, {3}, {4, 5}}},
		{Anchors: [][]float32{{1, 2}, {0, 5}, {4, 5}}}, {Anchors: [][]float32{{1, 2}}},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
}

func TestYOLOv5FaceErrors(t *testing.T) {
	d := newYOLOTest(t, YOLOv5FaceOptions{})
	swap := yoloOutputs()
	swap[0], swap[1] = swap[1], swap[0]
	short := yoloOutputs()
	short[2] = mkOut("stride_32", filled(2*2*16, 0), 1, 2, 1, 2, 16)
	checkDecodeErrors(t, d, []decodeErrCase{
		{"too few anchors in stride_32", short, yoloLB, `"stride_32"`},
		{"outputs out of order", swap, yoloLB, `"stride_8"`},
		{"missing outputs", yoloOutputs()[:2], yoloLB, "want 3 outputs"},
		{"tensor not a multiple of 32", yoloOutputs(), Letterbox{SrcW: 48, SrcH: 48, DstW: 48, DstH: 48, ScaleX: 1, ScaleY: 1}, "stride 32"},
	})
	bad := yoloOutputs()
	bad[1].Data[5] = float32(math.Inf(1))
	if _, err := d.Decode(bad, yoloLB, 0.5); err == nil {
		t.Error("infinite landmark: no error")
	}
}
