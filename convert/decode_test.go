package convert

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

const decodeTol = 1e-3

func nearF(a, b float32) bool { return math.Abs(float64(a-b)) <= decodeTol }

func nearBox(a, b Box) bool {
	return nearF(a.X1, b.X1) && nearF(a.Y1, b.Y1) && nearF(a.X2, b.X2) && nearF(a.Y2, b.Y2)
}

func filled(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func mkOut(name string, data []float32, shape ...int64) Output {
	return Output{Name: name, Shape: shape, Data: data}
}

// byScore returns dets sorted by descending score, for order-independent checks.
func byScore(dets []Detection) []Detection {
	d := slices.Clone(dets)
	slices.SortFunc(d, func(a, b Detection) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return d
}

type wantDet struct {
	box   Box
	score float32
	class int
	label string
	kps   map[int]Point // keypoint index -> expected position
}

func checkDets(t *testing.T, got []Detection, want []wantDet) {
	t.Helper()
	got = byScore(got)
	if len(got) != len(want) {
		t.Fatalf("got %d detections %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if !nearBox(g.Box, w.box) {
			t.Errorf("detection %d: box %+v, want %+v", i, g.Box, w.box)
		}
		if !nearF(g.Score, w.score) {
			t.Errorf("detection %d: score %v, want %v", i, g.Score, w.score)
		}
		if g.Class != w.class || g.Label != w.label {
			t.Errorf("detection %d: class %d %q, want %d %q", i, g.Class, g.Label, w.class, w.label)
		}
		for k, p := range w.kps {
			if k >= len(g.Keypoints) {
				t.Errorf("detection %d: %d keypoints, want keypoint %d", i, len(g.Keypoints), k)
				continue
			}
			if !nearF(g.Keypoints[k].X, p.X) || !nearF(g.Keypoints[k].Y, p.Y) {
				t.Errorf("detection %d: keypoint %d at %+v, want %+v", i, k, g.Keypoints[k], p)
			}
		}
	}
}

// ---- YuNet ----

// yunetLB is a 120x96 source placed centred at scale 0.5 into a 64x64
// tensor: content 60x48 at (2, 8). source = (tensor - pad) * 2.
var yunetLB = Letterbox{SrcW: 120, SrcH: 96, DstW: 64, DstH: 64, ScaleX: 0.5, ScaleY: 0.5, PadX: 2, PadY: 8, ContentW: 60, ContentH: 48}

// yunetOutputs builds the 12 outputs for a 64x64 tensor (8x8, 4x4, 2x2
// cells) with:
//   - stride 16, cell (x=2, y=1) = index 6: cls 1, obj 0.75 (score 0.75),
//     bbox (0.5, 0.25, ln 2, 0), kps[0] = (1, -0.5), kps[4] = (-1, 1);
//   - stride 8, cell (x=5, y=3) = index 29: cls 0.5, obj 0.6 (score 0.3),
//     bbox (0, 0, 0, 0);
//   - stride 32, cell (x=1, y=1) = index 3: cls 1.5 (clamped to 1), obj 0.55
//     (score 0.55), bbox (0, 0, 0, ln 0.5).
//
// Everything else scores 0.
func yunetOutputs() []Output {
	strides := []int{8, 16, 32}
	var outs []Output
	for _, head := range yunetHeads {
		for _, s := range strides {
			n := (64 / s) * (64 / s)
			outs = append(outs, mkOut(fmt.Sprintf("%s_%d", head.prefix, s), filled(n*head.values, 0), 1, int64(n), int64(head.values)))
		}
	}
	cls := func(s int) []float32 { return outs[slices.Index(strides, s)].Data }
	obj := func(s int) []float32 { return outs[3+slices.Index(strides, s)].Data }
	bbox := func(s int) []float32 { return outs[6+slices.Index(strides, s)].Data }
	kps := func(s int) []float32 { return outs[9+slices.Index(strides, s)].Data }

	cls(16)[6], obj(16)[6] = 1, 0.75
	copy(bbox(16)[4*6:], []float32{0.5, 0.25, float32(math.Log(2)), 0})
	copy(kps(16)[10*6:], []float32{1, -0.5, 0, 0, 0, 0, 0, 0, -1, 1})

	cls(8)[29], obj(8)[29] = 0.5, 0.6

	cls(32)[3], obj(32)[3] = 1.5, 0.55
	copy(bbox(32)[4*3:], []float32{0, 0, 0, float32(math.Log(0.5))})
	return outs
}

// Stride 16, anchor (32, 16): cx = 0.5*16+32 = 40, cy = 0.25*16+16 = 20,
// w = 2*16 = 32, h = 16 -> tensor (24, 12, 56, 28) -> source
// ((24-2)*2, (12-8)*2, (56-2)*2, (28-8)*2) = (44, 8, 108, 40).
// kps[0] = (1*16+32, -0.5*16+16) = (48, 8) -> (92, 0);
// kps[4] = (-16+32, 16+16) = (16, 32) -> (28, 48).
var yunetStrong = wantDet{
	box: Box{44, 8, 108, 40}, score: 0.75, label: "face",
	kps: map[int]Point{0: {92, 0}, 4: {28, 48}},
}

// Stride 32, anchor (32, 32): w = 32, h = 16 -> tensor (16, 24, 48, 40) ->
// source (28, 32, 92, 64).
var yunetClamped = wantDet{box: Box{28, 32, 92, 64}, score: 0.55, label: "face"}

// Stride 8, anchor (40, 24): w = h = 8 -> tensor (36, 20, 44, 28) -> source
// (68, 24, 84, 40).
var yunetWeak = wantDet{box: Box{68, 24, 84, 40}, score: 0.3, label: "face"}

func TestYuNetDecode(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "yunet"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		threshold float32
		want      []wantDet
	}{
		{"threshold 0.5 keeps two", 0.5, []wantDet{yunetStrong, yunetClamped}},
		{"threshold 0.75 keeps the strong one (>=)", 0.75, []wantDet{yunetStrong}},
		{"threshold 0.25 keeps all three", 0.25, []wantDet{yunetStrong, yunetClamped, yunetWeak}},
		{"threshold 0.8 keeps none", 0.8, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(yunetOutputs(), yunetLB, tc.threshold)
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

func TestYuNetLabelAndStrides(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "yunet", Labels: []string{"plate"}, Strides: []int{16}})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, o := range d.Outputs() {
		names = append(names, o.Name)
	}
	if want := []string{"cls_16", "obj_16", "bbox_16", "kps_16"}; !slices.Equal(names, want) {
		t.Fatalf("Outputs() = %v, want %v", names, want)
	}
	all := yunetOutputs()
	dets, err := d.Decode([]Output{all[1], all[4], all[7], all[10]}, yunetLB, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	s := yunetStrong
	s.label = "plate"
	checkDets(t, dets, []wantDet{s})
}

func TestYuNetOutputs(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "yunet"})
	if err != nil {
		t.Fatal(err)
	}
	want := []TensorInfo{
		{"cls_8", Float32, []int64{-1, -1, 1}}, {"cls_16", Float32, []int64{-1, -1, 1}}, {"cls_32", Float32, []int64{-1, -1, 1}},
		{"obj_8", Float32, []int64{-1, -1, 1}}, {"obj_16", Float32, []int64{-1, -1, 1}}, {"obj_32", Float32, []int64{-1, -1, 1}},
		{"bbox_8", Float32, []int64{-1, -1, 4}}, {"bbox_16", Float32, []int64{-1, -1, 4}}, {"bbox_32", Float32, []int64{-1, -1, 4}},
		{"kps_8", Float32, []int64{-1, -1, 10}}, {"kps_16", Float32, []int64{-1, -1, 10}}, {"kps_32", Float32, []int64{-1, -1, 10}},
	}
	checkInfos(t, d.Outputs(), want)
}

func checkInfos(t *testing.T, got, want []TensorInfo) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Outputs() has %d entries %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].DType != want[i].DType || !slices.Equal(got[i].Shape, want[i].Shape) {
			t.Errorf("Outputs()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestYuNetErrors(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "yunet"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func([]Output) []Output
		lb     Letterbox
		want   string // substring of the error
	}{
		{"wrong N in bbox_16", func(o []Output) []Output {
			o[7] = mkOut("bbox_16", filled(15*4, 0), 1, 15, 4)
			return o
		}, yunetLB, `"bbox_16"`},
		{"wrong N in cls_8", func(o []Output) []Output {
			o[0] = mkOut("cls_8", filled(65, 0), 1, 65, 1)
			return o
		}, yunetLB, `"cls_8"`},
		{"outputs out of order", func(o []Output) []Output {
			o[3], o[0] = o[0], o[3]
			return o
		}, yunetLB, `"cls_8"`},
		{"shape disagrees with data", func(o []Output) []Output {
			o[9].Shape = []int64{1, 64, 4}
			return o
		}, yunetLB, `"kps_8"`},
		{"missing outputs", func(o []Output) []Output { return o[:11] }, yunetLB, "want 12 outputs"},
		{"tensor not a multiple of 32", func(o []Output) []Output { return o }, Letterbox{SrcW: 48, SrcH: 48, DstW: 48, DstH: 48, ScaleX: 1, ScaleY: 1}, "stride 32"},
		{"zero letterbox", func(o []Output) []Output { return o }, Letterbox{DstW: 64, DstH: 64}, "letterbox"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Decode(tc.mutate(yunetOutputs()), tc.lb, 0.5)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %s", err, tc.want)
			}
		})
	}
}

func TestYuNetConfigErrors(t *testing.T) {
	for _, strides := range [][]int{{8, 0}, {8, -16}, {8, 16, 8}} {
		if _, err := newDec(testCfg{Adapter: "yunet", Strides: strides}); err == nil {
			t.Errorf("strides %v: no error", strides)
		}
	}
}

// ---- TensorFlow OD API ----

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
		{"num past N is clamped", 99, 0.5, []wantDet{past, face, unknown, plate}},
		{"num 0", 0, 0.1, nil},
		{"num negative", -1, 0.1, nil},
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

// blazeLB: a 256x192 source at scale 0.5, centred in a 128x128 tensor:
// content 128x96 at (0, 16). source = (tensor - pad) * 2.
var blazeLB = Letterbox{SrcW: 256, SrcH: 192, DstW: 128, DstH: 128, ScaleX: 0.5, ScaleY: 0.5, PadX: 0, PadY: 16, ContentW: 128, ContentH: 96}

var blazeLayers = []AnchorLayer{{16, 2}, {8, 6}}

// blazeAll builds the 896 logits and regressions of a short-range model:
//   - layer 2 (8x8, 6 per cell), cell (x=3, y=2), anchor 4: index
//     512 + (2*8+3)*6 + 4 = 630, logit 2, r = (8, 4, 32, 48, kp k = (k, -k));
//   - layer 1 (16x16, 2 per cell), cell (x=8, y=8), anchor 1: index
//     (8*16+8)*2 + 1 = 273, logit -1, r = (0, 0, 16, 16, 0...).
//
// Every other anchor has logit -10.
func blazeAll() (logits, regs []float32) {
	logits = filled(896, -10)
	regs = filled(896*16, 0)
	logits[630] = 2
	r := regs[630*16 : 631*16]
	copy(r, []float32{8, 4, 32, 48})
	for k := range 6 {
		r[4+2*k], r[5+2*k] = float32(k), float32(-k)
	}
	logits[273] = -1
	copy(regs[273*16:], []float32{0, 0, 16, 16})
	return logits, regs
}

// Layer 2 anchor centre ((3.5)/8, (2.5)/8) * 128 = (56, 40): cx = 64,
// cy = 44, w = 32, h = 48 -> tensor (48, 20, 80, 68) -> source
// (96, 8, 160, 104). kp0 = (56, 40) -> (112, 48); kp5 = (61, 35) -> (122, 38).
var blazeStrong = wantDet{
	box: Box{96, 8, 160, 104}, score: 0.880797, label: "face",
	kps: map[int]Point{0: {112, 48}, 5: {122, 38}},
}

// Layer 1 anchor centre (8.5/16)*128 = 68: box tensor (60, 60, 76, 76) ->
// source (120, 88, 152, 120).
var blazeWeak = wantDet{box: Box{120, 88, 152, 120}, score: 0.268941, label: "face"}

func blazeSplitOutputs() []Output {
	logits, regs := blazeAll()
	return []Output{
		mkOut("Identity:0", logits[:512], 1, 512, 1),
		mkOut("Identity_1:0", logits[512:], 1, 384, 1),
		mkOut("Identity_2:0", regs[:512*16], 1, 512, 16),
		mkOut("Identity_3:0", regs[512*16:], 1, 384, 16),
	}
}

func blazeMergedOutputs() []Output {
	logits, regs := blazeAll()
	return []Output{
		mkOut("classificators", logits, 1, 896, 1),
		mkOut("regressors", regs, 1, 896, 16),
	}
}

var (
	blazeSplitCfg = testCfg{
		Adapter: "blazeface", Anchors: blazeLayers,
		ScoreOutputs: []string{"Identity:0", "Identity_1:0"},
		BoxOutputs:   []string{"Identity_2:0", "Identity_3:0"},
	}
	blazeMergedCfg = testCfg{
		Adapter: "blazeface", Anchors: blazeLayers,
		ScoreOutputs: []string{"classificators"},
		BoxOutputs:   []string{"regressors"},
	}
)

func TestBlazeFaceDecode(t *testing.T) {
	tests := []struct {
		name      string
		cfg       testCfg
		outs      func() []Output
		threshold float32
		want      []wantDet
	}{
		{"split, threshold 0.5", blazeSplitCfg, blazeSplitOutputs, 0.5, []wantDet{blazeStrong}},
		{"split, threshold 0.2", blazeSplitCfg, blazeSplitOutputs, 0.2, []wantDet{blazeStrong, blazeWeak}},
		{"split, threshold 0.9", blazeSplitCfg, blazeSplitOutputs, 0.9, nil},
		{"merged, threshold 0.5", blazeMergedCfg, blazeMergedOutputs, 0.5, []wantDet{blazeStrong}},
		{"merged, threshold 0.2", blazeMergedCfg, blazeMergedOutputs, 0.2, []wantDet{blazeStrong, blazeWeak}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := newDec(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			dets, err := d.Decode(tc.outs(), blazeLB, tc.threshold)
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

// TestBlazeFaceFullRange: one 48x48 layer of one anchor in a 192x192 tensor
// (full-range model), a 384x384 source at scale 0.5.
func TestBlazeFaceFullRange(t *testing.T) {
	d, err := newDec(testCfg{
		Adapter: "blazeface", Anchors: []AnchorLayer{{48, 1}}, Labels: []string{"head"},
		ScoreOutputs: []string{"reshaped_classifier_face_4"},
		BoxOutputs:   []string{"reshaped_regressor_face_4"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkInfos(t, d.Outputs(), []TensorInfo{
		{"reshaped_classifier_face_4", Float32, []int64{1, 2304, 1}},
		{"reshaped_regressor_face_4", Float32, []int64{1, 2304, 16}},
	})
	logits, regs := filled(2304, -10), filled(2304*16, 0)
	// Cell (x=10, y=20) = index 970: centre (10.5/48, 20.5/48)*192 = (42, 82).
	logits[970] = 5
	copy(regs[970*16:], []float32{2, -2, 40, 20})
	lb := Letterbox{SrcW: 384, SrcH: 384, DstW: 192, DstH: 192, ScaleX: 0.5, ScaleY: 0.5, ContentW: 192, ContentH: 192}
	dets, err := d.Decode([]Output{
		mkOut("reshaped_classifier_face_4", logits, 1, 2304, 1),
		mkOut("reshaped_regressor_face_4", regs, 1, 2304, 16),
	}, lb, 0.6)
	if err != nil {
		t.Fatal(err)
	}
	// cx 44, cy 80, w 40, h 20 -> tensor (24, 70, 64, 90) -> source (48, 140, 128, 180).
	checkDets(t, dets, []wantDet{{box: Box{48, 140, 128, 180}, score: 0.993307, label: "head", kps: map[int]Point{0: {84, 164}}}})
}

func TestBlazeFaceOutputs(t *testing.T) {
	tests := []struct {
		name string
		cfg  testCfg
		want []TensorInfo
	}{
		{"split", blazeSplitCfg, []TensorInfo{
			{"Identity:0", Float32, []int64{1, 512, 1}},
			{"Identity_1:0", Float32, []int64{1, 384, 1}},
			{"Identity_2:0", Float32, []int64{1, 512, 16}},
			{"Identity_3:0", Float32, []int64{1, 384, 16}},
		}},
		{"merged", blazeMergedCfg, []TensorInfo{
			{"classificators", Float32, []int64{1, 896, 1}},
			{"regressors", Float32, []int64{1, 896, 16}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := newDec(withAdapter("blazeface", tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			checkInfos(t, d.Outputs(), tc.want)
		})
	}
}

func TestBlazeFaceConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  testCfg
		want string
	}{
		{"no anchors", testCfg{ScoreOutputs: []string{"s"}, BoxOutputs: []string{"b"}}, "no anchor layers"},
		{"zero grid", testCfg{Anchors: []AnchorLayer{{0, 2}}, ScoreOutputs: []string{"s"}, BoxOutputs: []string{"b"}}, "anchor layer 0"},
		{"no outputs", testCfg{Anchors: blazeLayers}, "must be named"},
		{"score and box counts differ", testCfg{Anchors: blazeLayers, ScoreOutputs: []string{"a", "b"}, BoxOutputs: []string{"c"}}, "2 score outputs but 1 box outputs"},
		{"three pairs for two layers", testCfg{Anchors: blazeLayers, ScoreOutputs: []string{"a", "b", "c"}, BoxOutputs: []string{"d", "e", "f"}}, "for 2 anchor layers"},
		{"duplicate name", testCfg{Anchors: blazeLayers, ScoreOutputs: []string{"a"}, BoxOutputs: []string{"a"}}, `"a" named twice`},
		{"empty name", testCfg{Anchors: blazeLayers, ScoreOutputs: []string{""}, BoxOutputs: []string{"a"}}, "empty output name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newDec(withAdapter("blazeface", tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestBlazeFaceDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  testCfg
		outs func() []Output
		want string
	}{
		{"split: wrong N in Identity_3:0", blazeSplitCfg, func() []Output {
			o := blazeSplitOutputs()
			o[3] = mkOut("Identity_3:0", filled(383*16, 0), 1, 383, 16)
			return o
		}, `"Identity_3:0"`},
		{"split: layers swapped", blazeSplitCfg, func() []Output {
			o := blazeSplitOutputs()
			o[0], o[1] = mkOut("Identity:0", o[1].Data, 1, 384, 1), mkOut("Identity_1:0", o[0].Data, 1, 512, 1)
			return o
		}, `"Identity:0"`},
		{"merged: wrong N in classificators", blazeMergedCfg, func() []Output {
			o := blazeMergedOutputs()
			o[0] = mkOut("classificators", filled(2304, 0), 1, 2304, 1)
			return o
		}, `"classificators"`},
		{"merged: boxes without keypoints", blazeMergedCfg, func() []Output {
			o := blazeMergedOutputs()
			o[1] = mkOut("regressors", filled(896*4, 0), 1, 896, 4)
			return o
		}, `"regressors"`},
		{"merged: one output", blazeMergedCfg, func() []Output { return blazeMergedOutputs()[:1] }, "want 2 outputs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := newDec(withAdapter("blazeface", tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Decode(tc.outs(), blazeLB, 0.5)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %s", err, tc.want)
			}
		})
	}
}

func TestNewDecoderUnknown(t *testing.T) {
	if _, err := newDec(testCfg{Adapter: "ssd"}); err == nil || !strings.Contains(err.Error(), `"ssd"`) {
		t.Fatalf("error %v, want one naming the adapter", err)
	}
}
