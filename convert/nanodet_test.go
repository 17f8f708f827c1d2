package convert

import (
	"strings"
	"testing"
)

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
//   - stride 8, cell 1: scores (0.2, 0.9, 0) -> car 0.9, centre
//     (11.5, 3.5), all sides 0 -> source (15, 7, 15, 7). (A NaN score
//     fails the whole decode: checked_test.go.)
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
	copy(s8[3:], []float32{0.2, 0.9, 0})
	return []Output{
		mkOut("s8", s8, 1, 32, 3), mkOut("s16", s16, 1, 8, 3),
		mkOut("b8", b8, 1, 32, 4*bins), mkOut("b16", b16, 1, 8, 4*bins),
	}
}

var (
	nanoPerson = wantDet{box: Box{15, 31, 31, 103}, score: 0.8, class: 0, label: "person"}
	nanoCar    = wantDet{box: Box{7, 79, 39, 111}, score: 0.6, class: 1, label: "car"}
	nanoDog    = wantDet{box: Box{0, 7, 0, 7}, score: 0.4, class: 2, label: "dog"}
	nanoCar2   = wantDet{box: Box{15, 7, 15, 7}, score: 0.9, class: 1, label: "car"}
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
		{"threshold 0.85 keeps the 0.9 car", 0.85, []wantDet{nanoCar2}},
		{"threshold 0.7 adds the person", 0.7, []wantDet{nanoCar2, nanoPerson}},
		{"threshold 0.6 adds the car (>=)", 0.6, []wantDet{nanoCar2, nanoPerson, nanoCar}},
		{"threshold 0.35 adds the dog", 0.35, []wantDet{nanoCar2, nanoPerson, nanoCar, nanoDog}},
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
	checkDets(t, dets, []wantDet{nanoCar2, head, nanoCar})
	cfg.PersonRegion = "body"
	d, _ = newDec(cfg)
	dets, _ = d.Decode(nanoOutputs(), nanoLB, 0.6)
	checkDets(t, dets, []wantDet{nanoCar2, nanoPerson, nanoCar})
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
