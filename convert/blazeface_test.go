package convert

import (
	"strings"
	"testing"
)

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
