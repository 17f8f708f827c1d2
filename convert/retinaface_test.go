package convert

import (
	"strings"
	"testing"
)

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
