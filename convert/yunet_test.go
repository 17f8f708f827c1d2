package convert

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

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
