package convert

import (
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
