package convert

import (
	"math"
	"reflect"
	"slices"
	"testing"
)

func TestIoU(t *testing.T) {
	tests := []struct {
		name string
		a, b Box
		want float32
	}{
		{"identical", Box{0, 0, 10, 10}, Box{0, 0, 10, 10}, 1},
		{"disjoint", Box{0, 0, 10, 10}, Box{20, 20, 30, 30}, 0},
		{"touching edges", Box{0, 0, 10, 10}, Box{10, 0, 20, 10}, 0},
		{"half overlap", Box{0, 0, 2, 2}, Box{1, 0, 3, 2}, 1.0 / 3},
		{"contained", Box{0, 0, 4, 4}, Box{1, 1, 3, 3}, 0.25},
		{"symmetric", Box{1, 1, 3, 3}, Box{0, 0, 4, 4}, 0.25},
		{"corner overlap", Box{0, 0, 2, 2}, Box{1, 1, 3, 3}, 1.0 / 7},
		{"empty boxes", Box{5, 5, 5, 5}, Box{5, 5, 5, 5}, 0},
		{"inverted box", Box{10, 10, 0, 0}, Box{0, 0, 10, 10}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := IoU(tc.a, tc.b)
			if math.IsNaN(float64(got)) || math.Abs(float64(got-tc.want)) > 1e-6 {
				t.Errorf("IoU(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func mkDet(score float32, class int, b Box) Detection {
	return Detection{Box: b, Score: score, Class: class}
}

func scoresOf(ds []Detection) []float32 {
	s := make([]float32, len(ds))
	for i, d := range ds {
		s[i] = d.Score
	}
	return s
}

func TestNMS(t *testing.T) {
	weak := mkDet(0.6, 0, Box{0, 0, 10, 10})
	strong := mkDet(0.9, 0, Box{1, 1, 11, 11}) // IoU with weak = 81/119 ≈ 0.68
	otherClass := mkDet(0.7, 1, Box{0, 0, 10, 10})
	far := mkDet(0.5, 0, Box{50, 50, 60, 60})
	// A chain: a suppresses b, b would suppress c, but a and c barely touch.
	a := mkDet(0.9, 0, Box{0, 0, 10, 10})
	b := mkDet(0.8, 0, Box{4, 0, 14, 10}) // IoU(a,b) = 60/140 ≈ 0.43
	c := mkDet(0.7, 0, Box{9, 0, 19, 10}) // IoU(b,c) = 50/150 ≈ 0.33, IoU(a,c) ≈ 0.05
	tie1 := mkDet(0.5, 0, Box{100, 0, 110, 10})
	tie2 := mkDet(0.5, 0, Box{200, 0, 210, 10})

	tests := []struct {
		name string
		in   []Detection
		iou  float32
		want []Detection
	}{
		{"strong first", []Detection{strong, weak}, 0.3, []Detection{strong}},
		{"weak first", []Detection{weak, strong}, 0.3, []Detection{strong}},
		{"below threshold iou keeps both", []Detection{weak, strong}, 0.7, []Detection{strong, weak}},
		{"other class not suppressed", []Detection{weak, otherClass, strong}, 0.3, []Detection{strong, otherClass}},
		{"far box kept, sorted descending", []Detection{far, weak, strong}, 0.3, []Detection{strong, far}},
		{"greedy chain", []Detection{c, b, a}, 0.3, []Detection{a, c}},
		{"stable on ties", []Detection{tie1, tie2}, 0.3, []Detection{tie1, tie2}},
		{"stable on ties, reversed", []Detection{tie2, tie1}, 0.3, []Detection{tie2, tie1}},
		{"empty", nil, 0.3, []Detection{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := NMS(in, tc.iou)
			if len(got) != len(tc.want) {
				t.Fatalf("NMS kept %d (%v), want %d (%v)", len(got), scoresOf(got), len(tc.want), scoresOf(tc.want))
			}
			for i := range got {
				if got[i].Score != tc.want[i].Score || got[i].Box != tc.want[i].Box || got[i].Class != tc.want[i].Class {
					t.Errorf("NMS[%d] = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			for i := range in {
				if in[i].Score != tc.in[i].Score || in[i].Box != tc.in[i].Box {
					t.Errorf("NMS modified its input at %d: %+v, was %+v", i, in[i], tc.in[i])
				}
			}
		})
	}
}

func TestNMSNaNScoreLast(t *testing.T) {
	nan := mkDet(float32(math.NaN()), 0, Box{0, 0, 10, 10})
	good := mkDet(0.4, 0, Box{1, 1, 11, 11})
	got := NMS([]Detection{nan, good}, 0.3)
	if len(got) == 0 || got[0].Score != 0.4 {
		t.Fatalf("NMS with a NaN score kept %v, want the 0.4 detection first", scoresOf(got))
	}
}

// TestNMSStableManyTies uses enough detections that an unstable sort would
// reorder equal scores (sort.Slice only uses insertion sort below 12).
func TestNMSStableManyTies(t *testing.T) {
	var in []Detection
	for i := range 60 {
		x := float32(20 * i) // disjoint boxes, input order readable from X1
		in = append(in, mkDet([]float32{0.3, 0.5, 0.7}[i%3], 0, Box{x, 0, x + 10, 10}))
	}
	got := NMS(in, 0.3)
	if len(got) != len(in) {
		t.Fatalf("NMS kept %d of %d disjoint boxes", len(got), len(in))
	}
	for i := 1; i < len(got); i++ {
		p, q := got[i-1], got[i]
		if p.Score < q.Score || (p.Score == q.Score && p.Box.X1 > q.Box.X1) {
			t.Fatalf("NMS[%d..%d] = (%v at x %v), (%v at x %v): want descending score, input order on ties", i-1, i, p.Score, p.Box.X1, q.Score, q.Box.X1)
		}
	}
}

// TestMergeAcross: one face found by two models becomes one region that
// encloses both boxes; one model's own overlapping boxes, other labels and
// far-apart boxes stay separate.
func TestMergeAcross(t *testing.T) {
	face := func(model string, score float32, x1, y1, x2, y2 float32) Detection {
		return Detection{Box: Box{x1, y1, x2, y2}, Score: score, Label: "face", Model: model}
	}
	dets := []Detection{
		face("a", 0.6, 10, 10, 50, 50),
		face("b", 0.9, 12, 8, 52, 48),  // the same face, higher score
		face("a", 0.5, 14, 12, 54, 52), // a's second box over it: absorbed too
		face("b", 0.4, 200, 200, 240, 240),
		face("b", 0.3, 205, 205, 245, 245), // b's own overlapping boxes stay apart
		{Box: Box{10, 10, 50, 50}, Score: 0.8, Label: "plate", Model: "c"},
	}
	got := MergeAcross(dets, 0.5)
	want := []Detection{
		// b's box grown to enclose a's two boxes (each overlaps b's by > 0.5).
		{Box: Box{10, 8, 54, 52}, Score: 0.9, Label: "face", Model: "b"},
		{Box: Box{10, 10, 50, 50}, Score: 0.8, Label: "plate", Model: "c"},
		face("b", 0.4, 200, 200, 240, 240),
		face("b", 0.3, 205, 205, 245, 245),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeAcross:\n got %+v\nwant %+v", got, want)
	}
	if dets[1].Box != (Box{12, 8, 52, 48}) {
		t.Error("MergeAcross modified its input")
	}
	if got := MergeAcross(dets[:1], 0.5); !reflect.DeepEqual(got, dets[:1]) {
		t.Errorf("one detection: %+v", got)
	}
}
