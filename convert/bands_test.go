package convert

import (
	"math"
	"strings"
	"testing"
)

func TestParseBands(t *testing.T) {
	b, err := ParseBands([][]float64{{20, 0.05}, {50, 0.1}, {0, 0.3}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h    float32
		want float32
	}{{0, 0.05}, {19.9, 0.05}, {20, 0.1}, {49, 0.1}, {50, 0.3}, {4000, 0.3}} {
		if got := b.For(c.h); got != c.want {
			t.Errorf("For(%g) = %g, want %g", c.h, got, c.want)
		}
	}
	if b.Min() != 0.05 {
		t.Errorf("Min = %g, want 0.05", b.Min())
	}
	if got := b.String(); got != "[[20, 0.05], [50, 0.1], [0, 0.3]]" {
		t.Errorf("String = %s", got)
	}
	if b, err := ParseBands(nil); err != nil || b != nil {
		t.Errorf("no bands: %v, %v", b, err)
	}
}

func TestParseBandsRefusesNonsense(t *testing.T) {
	for _, c := range []struct {
		raw  [][]float64
		want string
	}{
		{[][]float64{{20, 0.05}}, "last band must have height 0"},
		{[][]float64{{0, 0.05}, {0, 0.3}}, "only the last band"},
		{[][]float64{{50, 0.05}, {20, 0.1}, {0, 0.3}}, "not above"},
		{[][]float64{{20, 1.5}, {0, 0.3}}, "outside (0, 1]"},
		{[][]float64{{20, math.NaN()}, {0, 0.3}}, "outside (0, 1]"},
		{[][]float64{{math.NaN(), 0.1}, {0, 0.3}}, "only the last band"},
		{[][]float64{{20}, {0, 0.3}}, "want [height, threshold]"},
		// A score of 0 keeps every candidate the model has (25422 boxes on
		// one wider-dev photo, the whole of it hidden, ten times slower).
		{[][]float64{{20, 0}, {0, 0.3}}, "outside (0, 1]"},
		{[][]float64{{math.Inf(1), 0.1}, {0, 0.3}}, "not a number of pixels"},
	} {
		if _, err := ParseBands(c.raw); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseBands(%v) = %v, want an error saying %q", c.raw, err, c.want)
		}
	}
}

// A box is judged by its height in the source: a 15-px box of a frame
// shrunk 3x is 45 px there.
func TestBandsKeepAtSourceHeight(t *testing.T) {
	b := Bands{{MaxHeight: 20, Threshold: 0.1}, {MaxHeight: 0, Threshold: 0.5}}
	dets := []Detection{
		{Box: Box{X2: 15, Y2: 15}, Score: 0.2},
		{Box: Box{X2: 15, Y2: 15}, Score: 0.6},
		{Box: Box{X2: 100, Y2: 100}, Score: 0.3},
	}
	if got := b.Keep(append([]Detection(nil), dets...), 1); len(got) != 2 || got[0].Score != 0.2 || got[1].Score != 0.6 {
		t.Errorf("scale 1: kept %v, want the two small boxes", got)
	}
	if got := b.Keep(append([]Detection(nil), dets...), 3); len(got) != 1 || got[0].Score != 0.6 {
		t.Errorf("scale 3: kept %v, want only the 0.6 box (45 px in the source)", got)
	}
	if got := Bands(nil).Keep(dets, 1); len(got) != 3 {
		t.Errorf("no bands dropped boxes: %v", got)
	}
}
