package video

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video/hide"
)

// --- the Tracker on its own ---

func faceAt(cx, cy, side float32) convert.Detection {
	h := side / 2
	return convert.Detection{Box: convert.Box{X1: cx - h, Y1: cy - h, X2: cx + h, Y2: cy + h}, Score: 0.8, Label: "face"}
}

func newTestTracker(t *testing.T, o TrackOptions) *Tracker {
	t.Helper()
	tr, err := NewTracker(o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// step adds one frame and returns the extras of the frames that became
// final, by frame.
func step(tr *Tracker, dets []convert.Detection, failed bool) map[int][]convert.Detection {
	tr.Add(dets, failed)
	out := map[int][]convert.Detection{}
	for {
		f, ex, ok := tr.Next()
		if !ok {
			return out
		}
		out[f] = ex
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-3 }

func wantBox(t *testing.T, what string, got convert.Box, cx, cy, side float64) {
	t.Helper()
	gx, gy := centre(got)
	if !near(gx, cx) || !near(gy, cy) || !near(float64(got.W()), side) || !near(float64(got.H()), side) {
		t.Errorf("%s: box %+v (centre %.2f,%.2f, %.2f×%.2f), want centre %.2f,%.2f, side %.2f",
			what, got, gx, gy, got.W(), got.H(), cx, cy, side)
	}
}

// TestTrackerMatch: two faces detected in two frames (in a different
// order) are each matched with their own track: when both are missed, each
// is predicted from its own motion.
func TestTrackerMatch(t *testing.T) {
	tr := newTestTracker(t, TrackOptions{Persist: 2})
	step(tr, []convert.Detection{faceAt(30, 30, 20), faceAt(100, 40, 30)}, false)
	step(tr, []convert.Detection{faceAt(97, 42, 30), faceAt(35, 30, 20)}, false)
	got := step(tr, nil, false)[2]
	if len(got) != 2 {
		t.Fatalf("frame 2: %d regions, want 2", len(got))
	}
	if got[0].Box.X1 > got[1].Box.X1 {
		got[0], got[1] = got[1], got[0]
	}
	wantBox(t, "left face", got[0].Box, 40, 30, 20*1.1)
	wantBox(t, "right face", got[1].Box, 94, 44, 30*1.1)
	for _, d := range got {
		if d.Source != convert.SourcePersist || d.Label != "face" || d.Score != 0.8 {
			t.Errorf("region %+v: want a persisted face with the sighting's score", d)
		}
	}
}

// TestTrackerVelocity: a face moving at a constant 7 px a frame is
// predicted 7 px further on for each missed frame, grown 10% a frame up to
// the cap, and dropped after Persist frames.
func TestTrackerVelocity(t *testing.T) {
	tr := newTestTracker(t, TrackOptions{Persist: 12, MaxGrow: 0.5})
	for i := range 5 {
		if ex := step(tr, []convert.Detection{faceAt(20+7*float32(i), 50, 20)}, false)[i]; len(ex) != 0 {
			t.Fatalf("frame %d: %v added to a detected face", i, ex)
		}
	}
	// Last seen at frame 4, centre x 48.
	for k := 1; k <= 12; k++ {
		ex := step(tr, nil, false)[4+k]
		if len(ex) != 1 {
			t.Fatalf("%d frames missed: %d regions, want 1", k, len(ex))
		}
		wantBox(t, fmt.Sprintf("%d frames missed", k), ex[0].Box, 48+7*float64(k), 50, 20*(1+math.Min(0.1*float64(k), 0.5)))
	}
	if ex := step(tr, nil, false)[17]; len(ex) != 0 {
		t.Errorf("13 frames missed with Persist 12: %v, want nothing", ex)
	}
	if len(tr.tracks) != 0 {
		t.Errorf("%d tracks left, want the expired one gone", len(tr.tracks))
	}
}

// TestTrackerCrossing: two faces crossing each other keep their tracks:
// after the crossing, a missed frame predicts each where it really is.
func TestTrackerCrossing(t *testing.T) {
	tr := newTestTracker(t, TrackOptions{Persist: 1})
	a := func(i int) convert.Detection { return faceAt(20+10*float32(i), 50, 30) }  // rightwards
	b := func(i int) convert.Detection { return faceAt(120-10*float32(i), 58, 30) } // leftwards
	for i := range 10 {
		dets := []convert.Detection{a(i), b(i)}
		if i%2 == 1 {
			dets[0], dets[1] = dets[1], dets[0]
		}
		step(tr, dets, false)
	}
	got := step(tr, nil, false)[10]
	if len(got) != 2 {
		t.Fatalf("frame 10: %d regions, want 2", len(got))
	}
	if got[0].Box.Y1 > got[1].Box.Y1 {
		got[0], got[1] = got[1], got[0]
	}
	wantBox(t, "face moving right", got[0].Box, 120, 50, 33)
	wantBox(t, "face moving left", got[1].Box, 20, 58, 33)
}

// TestTrackerLabels: a face is never continued by another label's
// detection in the same place, nor by another model's.
func TestTrackerLabels(t *testing.T) {
	tr := newTestTracker(t, TrackOptions{Persist: 1})
	step(tr, []convert.Detection{faceAt(50, 50, 20)}, false)
	plate := faceAt(50, 50, 20)
	plate.Label = "plate"
	other := faceAt(50, 50, 20)
	other.Model = "other"
	got := step(tr, []convert.Detection{plate, other}, false)[1]
	if len(got) != 1 || got[0].Label != "face" || got[0].Model != "" || got[0].Source != convert.SourcePersist {
		t.Errorf("frame 1: %+v, want the face persisted", got)
	}
}

// TestTrackerFailedFrame: a failed frame gets nothing, ignores its
// detections and ages the tracks: Persist counts it.
func TestTrackerFailedFrame(t *testing.T) {
	tr := newTestTracker(t, TrackOptions{Persist: 2})
	step(tr, []convert.Detection{faceAt(50, 50, 20)}, false)
	step(tr, []convert.Detection{faceAt(54, 50, 20)}, false)
	if ex := step(tr, []convert.Detection{faceAt(90, 90, 20)}, true)[2]; len(ex) != 0 {
		t.Errorf("failed frame 2: %v, want nothing", ex)
	}
	ex := step(tr, nil, false)[3]
	if len(ex) != 1 {
		t.Fatalf("frame 3: %d regions, want the face persisted", len(ex))
	}
	wantBox(t, "frame 3", ex[0].Box, 62, 50, 24)
	if ex := step(tr, nil, false)[4]; len(ex) != 0 {
		t.Errorf("frame 4, 3 frames after the last sighting with Persist 2: %v, want nothing", ex)
	}
}

// TestTrackerDelay: with Lookahead L a frame is final L+1 frames after it
// was added, or at Flush; without, at once.
func TestTrackerDelay(t *testing.T) {
	for _, la := range []int{0, 1, 4} {
		tr := newTestTracker(t, TrackOptions{Lookahead: la})
		var finals []int
		for i := range 10 {
			for f := range step(tr, nil, false) {
				finals = append(finals, f)
			}
			if want := max(0, i+1-tr.Delay()); len(finals) != want {
				t.Errorf("lookahead %d: %d frames final after %d added, want %d", la, len(finals), i+1, want)
			}
		}
		tr.Flush()
		for {
			f, _, ok := tr.Next()
			if !ok {
				break
			}
			finals = append(finals, f)
		}
		if fmt.Sprint(finals) != "[0 1 2 3 4 5 6 7 8 9]" {
			t.Errorf("lookahead %d: frames final in order %v", la, finals)
		}
	}
}

// TestTrackerLookaheadBeforeStart: a face first seen at frame 2 with
// Lookahead 5 is placed in frames 0 and 1 only, moved back along the motion
// measured in frame 3.
func TestTrackerLookaheadBeforeStart(t *testing.T) {
	tr := newTestTracker(t, TrackOptions{Lookahead: 5})
	got := map[int][]convert.Detection{}
	add := func(m map[int][]convert.Detection) {
		for f, ex := range m {
			got[f] = ex
		}
	}
	add(step(tr, nil, false))
	add(step(tr, nil, false))
	add(step(tr, []convert.Detection{faceAt(50, 50, 20)}, false))
	add(step(tr, []convert.Detection{faceAt(56, 50, 20)}, false))
	tr.Flush()
	for {
		f, ex, ok := tr.Next()
		if !ok {
			break
		}
		got[f] = ex
	}
	if len(got) != 4 || len(got[0]) != 1 || len(got[1]) != 1 || len(got[2]) != 0 || len(got[3]) != 0 {
		t.Fatalf("regions by frame %v, want one in frames 0 and 1", got)
	}
	wantBox(t, "frame 1", got[1][0].Box, 44, 50, 22)
	wantBox(t, "frame 0", got[0][0].Box, 38, 50, 24)
	if got[0][0].Source != convert.SourceLookahead {
		t.Errorf("frame 0: source %q, want %q", got[0][0].Source, convert.SourceLookahead)
	}
}

func TestTrackOptionsValidate(t *testing.T) {
	for _, o := range []TrackOptions{{Persist: -1}, {Lookahead: -1}, {Grow: -0.1}, {Grow: math.NaN()}, {MaxGrow: 11}} {
		if _, err := NewTracker(o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
	src := synthSource(t, 3)
	for _, o := range []PipelineOptions{{Persist: -1}, {Lookahead: -2}, {Hide: hide.Options{Style: "smudge"}}} {
		if _, err := RunPipeline(context.Background(), src, newFake(1), newMemSink(t, false), o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
	if src.next != 0 {
		t.Errorf("%d frames read before the options were checked", src.next)
	}
}

// BenchmarkTracker times the Tracker alone (what temporal safety adds to
// the pipeline's ordered stage per frame, beyond hiding the regions it
// adds): four faces moving, all missed in one frame in ten, Persist 5,
// Lookahead 5.
// Run: go test -run XXX -bench Tracker ./video/
func BenchmarkTracker(b *testing.B) {
	tr, err := NewTracker(TrackOptions{Persist: 5, Lookahead: 5})
	if err != nil {
		b.Fatal(err)
	}
	dets := make([]convert.Detection, 4)
	extras := 0
	b.ResetTimer()
	for i := range b.N {
		dets = dets[:0]
		if i%10 != 9 {
			for k := range 4 {
				dets = append(dets, faceAt(float32(100+200*k+(i%50)*3), float32(200+k*10), 60))
			}
		}
		tr.Add(dets, false)
		for {
			_, ex, ok := tr.Next()
			if !ok {
				break
			}
			extras += len(ex)
		}
	}
	b.ReportMetric(float64(extras)/float64(b.N), "regions/frame")
}

// TestTrackerRevisit: a face found in a tile that is looked at again only
// every 8 frames stays hidden until then, though Persist is 2; a face of
// the whole-frame pass (Revisit 0) is kept for Persist frames only.
func TestTrackerRevisit(t *testing.T) {
	tr := newTestTracker(t, TrackOptions{Persist: 2})
	tile := faceAt(50, 50, 12)
	tile.Revisit = 8
	whole := faceAt(300, 300, 40)
	step(tr, []convert.Detection{tile, whole}, false)
	for f := 1; f <= 9; f++ {
		got := step(tr, nil, false)[f]
		var small, big int
		for _, d := range got {
			if cx, _ := centre(d.Box); cx < 100 {
				small++
			} else {
				big++
			}
		}
		if wantSmall := f <= 8; (small == 1) != wantSmall {
			t.Errorf("frame %d: the tile's face hidden %d times, want %v (until its tile comes round at frame 8)", f, small, wantSmall)
		}
		if wantBig := f <= 2; (big == 1) != wantBig {
			t.Errorf("frame %d: the whole-frame face hidden %d times, want %v (Persist 2)", f, big, wantBig)
		}
	}
}

// TestTrackerRevisitGrowsForMotion: a face seen once in a tile, its motion
// unknown, is held in a region that grows by 20% of its size a frame, so a
// face moving a tenth of its size per frame stays inside it until its
// tile comes round again.
func TestTrackerRevisitGrowsForMotion(t *testing.T) {
	tr := newTestTracker(t, TrackOptions{Persist: 2})
	tile := faceAt(100, 100, 20)
	tile.Revisit = 8
	step(tr, []convert.Detection{tile}, false)
	for f := 1; f <= 7; f++ {
		got := step(tr, nil, false)[f]
		if len(got) != 1 {
			t.Fatalf("frame %d: %d regions, want 1", f, len(got))
		}
		walked := faceAt(100+2*float32(f), 100, 20) // 2 px (a tenth of 20) a frame
		if b, w := got[0].Box, walked.Box; b.X1 > w.X1 || b.X2 < w.X2 || b.Y1 > w.Y1 || b.Y2 < w.Y2 {
			t.Errorf("frame %d: region %+v does not hold the walking face %+v", f, b, w)
		}
	}
}
