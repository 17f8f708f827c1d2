package convert

import (
	"slices"
	"testing"
)

// scrfdLB is a 128x64 source at scale 0.5 in a 64x32 tensor, placed top
// left: source = tensor * 2.
var scrfdLB = Letterbox{SrcW: 128, SrcH: 64, DstW: 64, DstH: 32, ScaleX: 0.5, ScaleY: 0.5, ContentW: 64, ContentH: 32}

// scrfdOutputs builds the 9 outputs for a 64x32 tensor (8x4, 4x2 and 2x1
// cells, 2 anchors each) with:
//   - stride 16, cell (x=2, y=1) = cell 6, anchor 1 = index 13: score 0.9,
//     distances (1, 0.5, 1, 0.5), kps[0] = (-0.5, -0.25), kps[4] = (0.5, 0.5);
//   - stride 8, cell (x=5, y=2) = cell 21, anchor 0 = index 42: score 0.4,
//     distances (0.5, 0.5, 0.5, 0.5);
//   - stride 32, cell (x=1, y=0) = cell 1, anchor 0 = index 2: score 1.2
//     (clamped to 1), distances (0.25, 0.25, 0.25, 0.5), cut by the top edge.
//
// Everything else scores 0.
func scrfdOutputs() []Output {
	var outs []Output
	for i, values := range []int{1, 4, 10} {
		for k, s := range []int{8, 16, 32} {
			n := (64 / s) * (32 / s) * 2
			outs = append(outs, mkOut("out"+string(rune('0'+3*i+k)), filled(n*values, 0), 1, int64(n), int64(values)))
		}
	}
	set := func(o, j, values int, v ...float32) { copy(outs[o].Data[j*values:], v) }
	set(1, 13, 1, 0.9)
	set(4, 13, 4, 1, 0.5, 1, 0.5)
	set(7, 13, 10, -0.5, -0.25, 0, 0, 0, 0, 0, 0, 0.5, 0.5)
	set(0, 42, 1, 0.4)
	set(3, 42, 4, 0.5, 0.5, 0.5, 0.5)
	set(2, 2, 1, 1.2)
	set(5, 2, 4, 0.25, 0.25, 0.25, 0.5)
	return outs
}

// Stride 16, anchor centre (32, 16): box (32-16, 16-8, 32+16, 16+8) =
// (16, 8, 48, 24) -> source (32, 16, 96, 48); kps[0] = (32-8, 16-4) =
// (24, 12) -> (48, 24); kps[4] = (40, 24) -> (80, 48).
var scrfdStrong = wantDet{box: Box{32, 16, 96, 48}, score: 0.9, label: "face", kps: map[int]Point{0: {48, 24}, 4: {80, 48}}}

// Stride 8, centre (40, 16): (36, 12, 44, 20) -> source (72, 24, 88, 40).
var scrfdWeak = wantDet{box: Box{72, 24, 88, 40}, score: 0.4, label: "face", kps: map[int]Point{0: {80, 32}}}

// Stride 32, centre (32, 0): (24, -8, 40, 16) -> source (48, -16, 80, 32),
// clipped to (48, 0, 80, 32).
var scrfdClamped = wantDet{box: Box{48, 0, 80, 32}, score: 1, label: "face"}

func newSCRFDTest(t *testing.T, o SCRFDOptions) Decoder {
	t.Helper()
	d, err := NewDecoder("scrfd", Config{}, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSCRFDDecode(t *testing.T) {
	d := newSCRFDTest(t, SCRFDOptions{})
	tests := []struct {
		name      string
		threshold float32
		want      []wantDet
	}{
		{"threshold 0.5 keeps two", 0.5, []wantDet{scrfdClamped, scrfdStrong}},
		{"threshold 0.9 keeps two (>=)", 0.9, []wantDet{scrfdClamped, scrfdStrong}},
		{"threshold 0.3 keeps three", 0.3, []wantDet{scrfdClamped, scrfdStrong, scrfdWeak}},
		{"threshold 0.95 keeps the clamped one", 0.95, []wantDet{scrfdClamped}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dets, err := d.Decode(scrfdOutputs(), scrfdLB, tc.threshold)
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

// TestSCRFDAnchorsShareTheirCell: both anchors of a cell have its centre
// (each cell's anchors are consecutive), and a model with one anchor per
// cell reads every index as its own cell.
func TestSCRFDAnchorsShareTheirCell(t *testing.T) {
	outs := scrfdOutputs()
	outs[1].Data[13], outs[1].Data[12] = 0, 0.9 // anchor 0 of the same cell
	copy(outs[4].Data[12*4:], []float32{1, 0.5, 1, 0.5})
	dets, err := newSCRFDTest(t, SCRFDOptions{}).Decode(outs, scrfdLB, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	checkDets(t, dets, []wantDet{scrfdClamped, {box: scrfdStrong.box, score: 0.9, label: "face"}})

	// One anchor per cell: 8x4, 4x2, 2x1 values; stride 16 index 6 is
	// the cell (2, 1) again.
	one := make([]Output, 9)
	for i, values := range []int{1, 4, 10} {
		for k, s := range []int{8, 16, 32} {
			n := (64 / s) * (32 / s)
			one[3*i+k] = mkOut(outs[3*i+k].Name, filled(n*values, 0), 1, int64(n), int64(values))
		}
	}
	one[1].Data[6] = 0.9
	copy(one[4].Data[6*4:], []float32{1, 0.5, 1, 0.5})
	dets, err = newSCRFDTest(t, SCRFDOptions{Anchors: 1}).Decode(one, scrfdLB, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	checkDets(t, dets, []wantDet{{box: scrfdStrong.box, score: 0.9, label: "face"}})
}

func TestSCRFDOutputsAndOptions(t *testing.T) {
	d := newSCRFDTest(t, SCRFDOptions{})
	var names []string
	for _, o := range d.Outputs() {
		names = append(names, o.Name)
	}
	if want := []string{"out0", "out1", "out2", "out3", "out4", "out5", "out6", "out7", "out8"}; !slices.Equal(names, want) {
		t.Fatalf("Outputs() = %v, want %v", names, want)
	}
	checkInfos(t, d.Outputs()[2:4], []TensorInfo{{"out2", Float32, []int64{1, -1, 1}}, {"out3", Float32, []int64{1, -1, 4}}})

	// insightface's own exports name the outputs by number.
	named := newSCRFDTest(t, SCRFDOptions{Strides: []int{16}, Scores: []string{"448"}, Boxes: []string{"451"}, Keypoints: []string{"454"}})
	all := scrfdOutputs()
	in := []Output{all[1], all[4], all[7]}
	in[0].Name, in[1].Name, in[2].Name = "448", "451", "454"
	dets, err := named.Decode(in, scrfdLB, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	checkDets(t, dets, []wantDet{scrfdStrong})

	for _, o := range []SCRFDOptions{
		{Strides: []int{8, 0}}, {Strides: []int{8, 8}}, {Anchors: -1},
		{Scores: []string{"a", "b"}}, {Scores: []string{"out3", "x", "y"}},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
}

func TestSCRFDErrors(t *testing.T) {
	d := newSCRFDTest(t, SCRFDOptions{})
	swap := scrfdOutputs()
	swap[0], swap[3] = swap[3], swap[0]
	short := scrfdOutputs()
	short[4] = mkOut("out4", filled(15*4, 0), 1, 15, 4)
	checkDecodeErrors(t, d, []decodeErrCase{
		{"wrong N in out4", short, scrfdLB, `"out4"`},
		{"outputs out of order", swap, scrfdLB, `"out0"`},
		{"missing outputs", scrfdOutputs()[:8], scrfdLB, "want 9 outputs"},
		{"tensor not a multiple of 32", scrfdOutputs(), Letterbox{SrcW: 48, SrcH: 48, DstW: 48, DstH: 48, ScaleX: 1, ScaleY: 1}, "stride 32"},
		{"zero letterbox", scrfdOutputs(), Letterbox{DstW: 64, DstH: 32}, "letterbox"},
	})
	// A NaN score is an invalid output, not "no face".
	bad := scrfdOutputs()
	bad[0].Data[3] = nan
	if _, err := d.Decode(bad, scrfdLB, 0.5); err == nil {
		t.Error("NaN score: no error")
	}
	// Distances that invert a box above the threshold fail the frame.
	inv := scrfdOutputs()
	copy(inv[4].Data[13*4:], []float32{-2, 0.5, -2, 0.5})
	if _, err := d.Decode(inv, scrfdLB, 0.5); err == nil {
		t.Error("inverted box: no error")
	}
	// A point a hair inverted by rounding (as the real model emits at low
	// scores, e.g. on wider-dev 20_22 at 0.039) is no box: dropped, and the
	// frame goes on.
	pt := scrfdOutputs()
	copy(pt[4].Data[13*4:], []float32{0.00005, 0.5, -0.00008, 0.5})
	dets, err := d.Decode(pt, scrfdLB, 0.5)
	if err != nil {
		t.Errorf("a degenerate point failed the frame: %v", err)
	}
	for _, det := range dets {
		if det.Box.W() < 0.1 {
			t.Errorf("a degenerate point was kept: %+v", det)
		}
	}
}
