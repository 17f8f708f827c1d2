package convert

import (
	"math"
	"strings"
	"testing"
)

// Decoders of ultraface, retinaface, mpface, lpd_yunet and nanodet on
// hand-made outputs whose detections are worked out in the comments.

var nan = float32(math.NaN())

func ln(v float64) float32 { return float32(math.Log(v)) }

// decodeErrCase is a broken set of outputs and the text its error must
// contain (the name of the output at fault, or what is wrong).
type decodeErrCase struct {
	name string
	outs []Output
	lb   Letterbox
	want string
}

func checkDecodeErrors(t *testing.T, d Decoder, tests []decodeErrCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(tc.outs, tc.lb, 0.1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v (detections %+v), want one containing %s", err, dets, tc.want)
			}
		})
	}
}

// ---- UltraFace ----

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
		0, nan, // NaN score: never kept
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

// retinaCfg: a 32x16 input with two prior levels: step 8, min size 8
// (a 2x4 map: priors 0..7) and step 16, min sizes 16 and 32 (a 1x2 map:
// priors 8..11, two per cell).
var retinaCfg = testCfg{
	Adapter: "retinaface", InputW: 32, InputH: 16,
	PriorSteps: []int{8, 16}, PriorMinSizes: [][]float32{{8}, {16, 32}},
}

// retinaLB: a 64x24 source at scale 0.5, centred in the 32x16 tensor:
// content 32x12 at (0, 2). source = (tensor - pad) * 2.
var retinaLB = Letterbox{SrcW: 64, SrcH: 24, DstW: 32, DstH: 16, ScaleX: 0.5, ScaleY: 0.5, PadY: 2, ContentW: 32, ContentH: 12}

// retinaOutputs:
//   - prior 6 (level 0, row 1, col 2: centre (20, 12), size 8): face 0.9,
//     loc (1, -2, ln2/0.2, ln0.5/0.2), landmark 0 (2, -1), landmark 4 (-5, 2.5);
//   - prior 11 (level 1, col 1, second size: centre (24, 8), size 32):
//     face 0.65, loc 0;
//   - prior 0 (centre (4, 4), size 8): face 0.3, loc 0.
func retinaOutputs() []Output {
	loc, conf, ldm := filled(12*4, 0), filled(12*2, 0), filled(12*10, 0)
	for i := range 12 {
		conf[2*i] = 1
	}
	set := func(i int, score float32) { conf[2*i], conf[2*i+1] = 1-score, score }
	set(6, 0.9)
	copy(loc[4*6:], []float32{1, -2, ln(2) / 0.2, ln(0.5) / 0.2})
	copy(ldm[10*6:], []float32{2, -1, 0, 0, 0, 0, 0, 0, -5, 2.5})
	set(11, 0.65)
	set(0, 0.3)
	return []Output{mkOut("output0", loc, 1, 12, 4), mkOut("output1", conf, 1, 12, 2), mkOut("output2", ldm, 1, 12, 10)}
}

// Prior 6: cx = 20 + 1*0.1*8 = 20.8, cy = 12 - 2*0.1*8 = 10.4, w = 16,
// h = 4 -> tensor (12.8, 8.4, 28.8, 12.4) -> source (25.6, 12.8, 57.6, 20.8).
// Landmark 0: (20 + 2*0.8, 12 - 0.8) = (21.6, 11.2) -> (43.2, 18.4);
// landmark 4: (20 - 4, 12 + 2) = (16, 14) -> (32, 24).
var retinaStrong = wantDet{
	box: Box{25.6, 12.8, 57.6, 20.8}, score: 0.9, label: "face",
	kps: map[int]Point{0: {43.2, 18.4}, 4: {32, 24}},
}

// Prior 11: tensor (8, -8, 40, 24) -> source (16, -20, 80, 44), clipped.
var retinaBig = wantDet{box: Box{16, 0, 64, 24}, score: 0.65, label: "face"}

// Prior 0: tensor (0, 0, 8, 8) -> source (0, -4, 16, 12), clipped.
var retinaWeak = wantDet{box: Box{0, 0, 16, 12}, score: 0.3, label: "face"}

func TestRetinaFaceDecode(t *testing.T) {
	d, err := newDec(retinaCfg)
	if err != nil {
		t.Fatal(err)
	}
	checkInfos(t, d.Outputs(), []TensorInfo{
		{"output0", Float32, []int64{1, 12, 4}},
		{"output1", Float32, []int64{1, 12, 2}},
		{"output2", Float32, []int64{1, 12, 10}},
	})
	tests := []struct {
		name      string
		threshold float32
		want      []wantDet
	}{
		{"threshold 0.7 keeps one", 0.7, []wantDet{retinaStrong}},
		{"threshold 0.65 keeps two (>=)", 0.65, []wantDet{retinaStrong, retinaBig}},
		{"threshold 0.2 keeps three", 0.2, []wantDet{retinaStrong, retinaBig, retinaWeak}},
		{"threshold 0.95 keeps none", 0.95, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(retinaOutputs(), retinaLB, tc.threshold)
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
	t.Run("variances", func(t *testing.T) {
		cfg := retinaCfg
		cfg.Variances = []float32{0.2, 0.1}
		d, err := newDec(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dets, err := d.Decode(retinaOutputs(), retinaLB, 0.7)
		if err != nil {
			t.Fatal(err)
		}
		// cx = 20 + 0.2*8 = 21.6, cy = 12 - 2*0.2*8 = 8.8,
		// w = 8*exp(ln2/2) = 11.3137, h = 8*exp(ln0.5/2) = 5.65685 ->
		// tensor (15.94315, 5.971575, 27.25685, 11.628425) -> source
		// (31.8863, 7.94315, 54.5137, 19.25685); landmark 0 = (20 + 2*1.6,
		// 12 - 1.6) = (23.2, 10.4) -> (46.4, 16.8).
		checkDets(t, dets, []wantDet{{box: Box{31.8863, 7.94315, 54.5137, 19.25685}, score: 0.9, label: "face", kps: map[int]Point{0: {46.4, 16.8}}}})
	})
}

// TestRetinaFacePriorCount: the default priors (cfg_mnet) of a 640x640
// input are 80*80*2 + 40*40*2 + 20*20*2 = 16800; a dynamic input gets them
// per frame, ceil(size/step) cells per side.
func TestRetinaFacePriorCount(t *testing.T) {
	d, err := newDec(testCfg{Adapter: "retinaface", InputW: 640, InputH: 640})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range d.Outputs() {
		if o.Shape[1] != 16800 {
			t.Errorf("output %q: shape %v, want 16800 priors", o.Name, o.Shape)
		}
	}
	dyn, err := newDec(testCfg{Adapter: "retinaface"})
	if err != nil {
		t.Fatal(err)
	}
	if got := dyn.Outputs()[0].Shape[1]; got != -1 {
		t.Errorf("dynamic input: N = %d, want -1", got)
	}
	// 100x60: step 8 -> 13x8, step 16 -> 7x4, step 32 -> 4x2 cells, two
	// priors each: 2*(104+28+8) = 280.
	lb := Letterbox{SrcW: 100, SrcH: 60, DstW: 100, DstH: 60, ScaleX: 1, ScaleY: 1, ContentW: 100, ContentH: 60}
	n := 280
	outs := []Output{mkOut("output0", filled(n*4, 0), 1, int64(n), 4), mkOut("output1", filled(n*2, 0), 1, int64(n), 2), mkOut("output2", filled(n*10, 0), 1, int64(n), 10)}
	outs[1].Data[2*279+1] = 0.8 // the last prior: step 32, cell (3, 1), size 512: centre (112, 48)
	dets, err := dyn.Decode(outs, lb, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	checkDets(t, dets, []wantDet{{box: Box{0, 0, 100, 60}, score: 0.8, label: "face", kps: map[int]Point{0: {100, 48}}}})
	outs[0] = mkOut("output0", filled(281*4, 0), 1, 281, 4)
	if _, err := dyn.Decode(outs, lb, 0.5); err == nil || !strings.Contains(err.Error(), `"output0"`) {
		t.Errorf("281 priors for 280: error %v, want one naming output0", err)
	}
}

func TestRetinaFaceDecodeErrors(t *testing.T) {
	d, _ := newDec(retinaCfg)
	o := retinaOutputs
	with := func(i int, out Output) []Output { outs := o(); outs[i] = out; return outs }
	tests := []decodeErrCase{
		{"loc one prior short", with(0, mkOut("output0", filled(11*4, 0), 1, 11, 4)), retinaLB, `"output0"`},
		{"landmarks of 4 points", with(2, mkOut("output2", filled(12*8, 0), 1, 12, 8)), retinaLB, `"output2"`},
		{"conf and loc swapped", []Output{o()[1], o()[0], o()[2]}, retinaLB, `"output0"`},
		{"two outputs", o()[:2], retinaLB, "want 3 outputs"},
		{"other input size", o(), Letterbox{SrcW: 64, SrcH: 32, DstW: 64, DstH: 32, ScaleX: 1, ScaleY: 1}, "priors for a 64x32 input"},
		{"zero letterbox", o(), Letterbox{DstW: 32, DstH: 16}, "letterbox"},
	}
	checkDecodeErrors(t, d, tests)
}

func TestPriorConfigErrors(t *testing.T) {
	for _, adapter := range []string{"retinaface", "lpd_yunet"} {
		tests := []struct {
			name string
			cfg  testCfg
			want string
		}{
			{"steps without sizes", testCfg{PriorSteps: []int{8, 16}}, "one step per level"},
			{"sizes without steps", testCfg{PriorMinSizes: [][]float32{{8}}}, "one step per level"},
			{"zero step", testCfg{PriorSteps: []int{0}, PriorMinSizes: [][]float32{{8}}}, "step 0"},
			{"empty level", testCfg{PriorSteps: []int{8}, PriorMinSizes: [][]float32{{}}}, "level 0 has no min sizes"},
			{"negative size", testCfg{PriorSteps: []int{8}, PriorMinSizes: [][]float32{{8, -1}}}, "min size -1"},
			{"three variances", testCfg{Variances: []float32{0.1, 0.2, 0.3}}, "want 2 values"},
			{"zero variance", testCfg{Variances: []float32{0.1, 0}}, "both must be positive"},
		}
		for _, tc := range tests {
			t.Run(adapter+"/"+tc.name, func(t *testing.T) {
				tc.cfg.Adapter = adapter
				_, err := newDec(tc.cfg)
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), adapter+":") {
					t.Fatalf("error %v, want one from %s containing %q", err, adapter, tc.want)
				}
			})
		}
	}
}

// ---- MPFace ----

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

// nanoCfg: a 32x64 input, strides 8 (4x8 cells) and 16 (2x4 cells), three
// classes.
var nanoCfg = testCfg{
	Adapter: "nanodet", InputW: 32, InputH: 64, Strides: []int{8, 16},
	Labels:       []string{"person", "car", "dog"},
	ScoreOutputs: []string{"s8", "s16"}, BoxOutputs: []string{"b8", "b16"},
}

// nanoLB: a 48x128 source at scale 0.5, centred in the 32x64 tensor:
// content 24x64 at (4, 0). source = (tensor - pad) * 2.
var nanoLB = Letterbox{SrcW: 48, SrcH: 128, DstW: 32, DstH: 64, ScaleX: 0.5, ScaleY: 0.5, PadX: 4, ContentW: 24, ContentH: 64}

// nanoOutputs has 4 bins per side (reg_max 3). A side given as bin b has
// logit 100 at b and -100 elsewhere (distance b*stride); "uniform" is four
// zeros (distance 1.5*stride).
//   - stride 8, cell (x=2, y=3) = 14, centre (19.5, 27.5): scores (0.8,
//     0.1, 0.3) -> person 0.8; left bin 1 (8), top uniform (12), right
//     bin 0, bottom bin 3 (24) -> tensor (11.5, 15.5, 19.5, 51.5) ->
//     source (15, 31, 31, 103);
//   - stride 16, cell (x=1, y=2) = 5, centre (23.5, 39.5): scores (0.1,
//     0.6, 0.5) -> car 0.6; left bin 1 (16), bottom bin 1 (16), others 0 ->
//     tensor (7.5, 39.5, 23.5, 55.5) -> source (7, 79, 39, 111);
//   - stride 8, cell 0, centre (3.5, 3.5): dog 0.4, all sides 0 -> source
//     (-1, 7, -1, 7) clipped to (0, 7, 0, 7);
//   - stride 8, cell 1: scores (NaN, 0.9, 0) -> car 0.9, NaN does not win,
//     centre (11.5, 3.5), all sides 0 -> source (15, 7, 15, 7).
func nanoOutputs() []Output {
	const bins = 4
	s8, s16 := filled(32*3, 0), filled(8*3, 0)
	b8, b16 := filled(32*4*bins, 0), filled(8*4*bins, 0)
	// set writes a cell's four sides (left, top, right, bottom), each a bin
	// or -1 for uniform.
	set := func(b []float32, cell int, sides [4]int) {
		for s, bin := range sides {
			r := b[(cell*4+s)*bins : (cell*4+s+1)*bins]
			for i := range r {
				switch {
				case bin < 0:
					r[i] = 0
				case i == bin:
					r[i] = 100
				default:
					r[i] = -100
				}
			}
		}
	}
	for c := range 32 {
		set(b8, c, [4]int{0, 0, 0, 0})
	}
	for c := range 8 {
		set(b16, c, [4]int{0, 0, 0, 0})
	}
	copy(s8[3*14:], []float32{0.8, 0.1, 0.3})
	set(b8, 14, [4]int{1, -1, 0, 3})
	copy(s16[3*5:], []float32{0.1, 0.6, 0.5})
	set(b16, 5, [4]int{1, 0, 0, 1})
	copy(s8[0:], []float32{0, 0, 0.4})
	copy(s8[3:], []float32{nan, 0.9, 0})
	return []Output{
		mkOut("s8", s8, 1, 32, 3), mkOut("s16", s16, 1, 8, 3),
		mkOut("b8", b8, 1, 32, 4*bins), mkOut("b16", b16, 1, 8, 4*bins),
	}
}

var (
	nanoPerson = wantDet{box: Box{15, 31, 31, 103}, score: 0.8, class: 0, label: "person"}
	nanoCar    = wantDet{box: Box{7, 79, 39, 111}, score: 0.6, class: 1, label: "car"}
	nanoDog    = wantDet{box: Box{0, 7, 0, 7}, score: 0.4, class: 2, label: "dog"}
	nanoNaNCar = wantDet{box: Box{15, 7, 15, 7}, score: 0.9, class: 1, label: "car"}
)

func TestNanoDetDecode(t *testing.T) {
	d, err := newDec(nanoCfg)
	if err != nil {
		t.Fatal(err)
	}
	checkInfos(t, d.Outputs(), []TensorInfo{
		{"s8", Float32, []int64{1, 32, 3}}, {"s16", Float32, []int64{1, 8, 3}},
		{"b8", Float32, []int64{1, 32, -1}}, {"b16", Float32, []int64{1, 8, -1}},
	})
	tests := []struct {
		name      string
		threshold float32
		want      []wantDet
	}{
		{"threshold 0.85 keeps the car next to a NaN", 0.85, []wantDet{nanoNaNCar}},
		{"threshold 0.7 adds the person", 0.7, []wantDet{nanoNaNCar, nanoPerson}},
		{"threshold 0.6 adds the car (>=)", 0.6, []wantDet{nanoNaNCar, nanoPerson, nanoCar}},
		{"threshold 0.35 adds the dog", 0.35, []wantDet{nanoNaNCar, nanoPerson, nanoCar, nanoDog}},
		{"threshold 0.95 keeps none", 0.95, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(nanoOutputs(), nanoLB, tc.threshold)
			if err != nil {
				t.Fatal(err)
			}
			checkDets(t, dets, tc.want)
		})
	}
}

// TestNanoDetHead: with person_region "head" a person's box becomes its
// top, HeadHeightOfWidth times its width high; other classes keep their
// boxes.
func TestNanoDetHead(t *testing.T) {
	cfg := nanoCfg
	cfg.PersonRegion = "head"
	d, err := newDec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dets, err := d.Decode(nanoOutputs(), nanoLB, 0.6)
	if err != nil {
		t.Fatal(err)
	}
	head := nanoPerson
	head.box = Box{15, 31, 31, 31 + HeadHeightOfWidth*16} // 16 px wide, 72 px high
	checkDets(t, dets, []wantDet{nanoNaNCar, head, nanoCar})
	cfg.PersonRegion = "body"
	d, _ = newDec(cfg)
	dets, _ = d.Decode(nanoOutputs(), nanoLB, 0.6)
	checkDets(t, dets, []wantDet{nanoNaNCar, nanoPerson, nanoCar})
}

func TestHeadBox(t *testing.T) {
	if HeadHeightOfWidth < 0.5 || HeadHeightOfWidth > 1.2 {
		t.Fatalf("HeadHeightOfWidth %g: outside the 0.5..1.2 the measurement supports", HeadHeightOfWidth)
	}
	tests := []struct {
		name string
		in   Box
		want Box
	}{
		{"standing person: top of the box", Box{100, 50, 200, 400}, Box{100, 50, 200, 50 + 100*HeadHeightOfWidth}},
		{"a box wider than high is all head", Box{10, 20, 110, 60}, Box{10, 20, 110, 60}},
		{"empty box", Box{5, 5, 5, 5}, Box{5, 5, 5, 5}},
	}
	for _, tc := range tests {
		if got := HeadBox(tc.in); !nearBox(got, tc.want) {
			t.Errorf("%s: HeadBox(%+v) = %+v, want %+v", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestNanoDetDefaultStrides: strides default to 8, 16, 32 and a 416x416
// input has 2704, 676 and 169 cells, as nanodet-m-416.
func TestNanoDetDefaultStrides(t *testing.T) {
	d, err := newDec(testCfg{
		Adapter: "nanodet", InputW: 416, InputH: 416, Labels: []string{"person"},
		ScoreOutputs: []string{"792", "814", "836"}, BoxOutputs: []string{"795", "817", "839"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkInfos(t, d.Outputs(), []TensorInfo{
		{"792", Float32, []int64{1, 2704, 1}}, {"814", Float32, []int64{1, 676, 1}}, {"836", Float32, []int64{1, 169, 1}},
		{"795", Float32, []int64{1, 2704, -1}}, {"817", Float32, []int64{1, 676, -1}}, {"839", Float32, []int64{1, 169, -1}},
	})
}

func TestNanoDetConfigErrors(t *testing.T) {
	ok := nanoCfg
	tests := []struct {
		name   string
		mutate func(*testCfg)
		want   string
	}{
		{"one score output for two strides", func(c *testCfg) { c.ScoreOutputs = []string{"s8"} }, "1 score outputs and 2 box outputs for 2 strides"},
		{"default strides, two outputs", func(c *testCfg) { c.Strides = nil }, "for 3 strides"},
		{"duplicate name", func(c *testCfg) { c.BoxOutputs = []string{"s8", "b16"} }, `"s8" named twice`},
		{"empty name", func(c *testCfg) { c.BoxOutputs = []string{"", "b16"} }, "empty output name"},
		{"zero stride", func(c *testCfg) { c.Strides = []int{8, 0} }, "stride 0"},
		{"no labels", func(c *testCfg) { c.Labels = nil }, "no labels"},
		{"person region feet", func(c *testCfg) { c.PersonRegion = "feet" }, `person_region "feet"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			_, err := newDec(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNanoDetDecodeErrors(t *testing.T) {
	d, _ := newDec(nanoCfg)
	o := nanoOutputs
	with := func(i int, out Output) []Output { outs := o(); outs[i] = out; return outs }
	tests := []decodeErrCase{
		{"s16 for 9 cells", with(1, mkOut("s16", filled(27, 0), 1, 9, 3)), nanoLB, `"s16"`},
		{"s8 with 80 classes", with(0, mkOut("s8", filled(32*80, 0), 1, 32, 80)), nanoLB, `"s8"`},
		{"b16 of one bin per side", with(3, mkOut("b16", filled(8*4, 0), 1, 8, 4)), nanoLB, `"b16"`},
		{"b8 for 31 cells", with(2, mkOut("b8", filled(31*16, 0), 1, 31, 16)), nanoLB, `"b8"`},
		{"b8 shape disagrees with data", with(2, mkOut("b8", filled(32*16, 0), 1, 32, 12)), nanoLB, `"b8"`},
		{"box outputs swapped", []Output{o()[0], o()[1], o()[3], o()[2]}, nanoLB, `"b8"`},
		{"three outputs", o()[:3], nanoLB, "want 4 outputs"},
		{"zero letterbox", o(), Letterbox{DstW: 32, DstH: 64}, "letterbox"},
	}
	checkDecodeErrors(t, d, tests)
}

func TestNewDecoderKnowsEveryAdapter(t *testing.T) {
	for _, a := range Adapters() {
		_, err := newDec(testCfg{Adapter: a})
		if err != nil && strings.Contains(err.Error(), "unknown adapter") {
			t.Errorf("adapter %q: %v", a, err)
		}
	}
	_, err := newDec(testCfg{Adapter: "ssd"})
	if err == nil || !strings.Contains(err.Error(), "lpd_yunet") || !strings.Contains(err.Error(), "nanodet") {
		t.Errorf("unknown adapter: error %v, want one listing the known adapters", err)
	}
}
