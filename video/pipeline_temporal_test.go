package video

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// Scenes for the temporal tests: sceneW×sceneH BGR frames with a
// background that is never black nor pure red, the frame index in pixel
// (0,0) (blue = low byte, green = high byte, red = 1, so it is not black
// either), and pure red squares that move from frame to frame. Regions are
// hidden solid black, so a black pixel is a hidden one.
const sceneW, sceneH = 160, 96

// object is one square of a scene: where it is in frame i, and whether
// the scene's detector finds it there.
type object struct {
	rect     func(i int) image.Rectangle
	detected func(i int) bool // nil: in every frame
}

// moving is a side×side square at (x0, y0) in frame 0 that moves (vx, vy)
// pixels per frame.
func moving(x0, y0, side, vx, vy int) func(int) image.Rectangle {
	return func(i int) image.Rectangle {
		return image.Rect(x0+vx*i, y0+vy*i, x0+vx*i+side, y0+vy*i+side)
	}
}

func scenePixels(objs []object, i int) []byte {
	b := make([]byte, sceneW*sceneH*3)
	for y := range sceneH {
		for x := range sceneW {
			p := b[(y*sceneW+x)*3:]
			p[0], p[1], p[2] = byte(60+(x+i)%50), byte(70+y%50), 40
		}
	}
	for _, o := range objs {
		r := o.rect(i).Intersect(image.Rect(0, 0, sceneW, sceneH))
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				p := b[(y*sceneW+x)*3:]
				p[0], p[1], p[2] = 0, 0, 255
			}
		}
	}
	b[0], b[1], b[2] = byte(i), byte(i>>8), 1
	return b
}

func sceneSource(t testing.TB, objs []object, n int) *sliceSource {
	return &sliceSource{n: n, frame: func(i int) gocv.Mat {
		m := gocv.NewMatWithSize(sceneH, sceneW, gocv.MatTypeCV8UC3)
		dst, err := m.DataPtrUint8()
		if err != nil {
			m.Close()
			t.Errorf("frame %d: %v", i, err)
			return gocv.NewMat()
		}
		copy(dst, scenePixels(objs, i))
		return m
	}}
}

// sceneDetector reports the objects of a scene exactly where they are,
// except in the frames in miss (it finds nothing there) or fail (it
// returns an error). It is deterministic and safe for concurrent use.
type sceneDetector struct {
	objs []object
	miss map[int]bool
	fail map[int]bool
}

func (d *sceneDetector) Info() convert.ModelInfo {
	return convert.ModelInfo{Name: "scene", Version: "1"}
}
func (d *sceneDetector) Close() error { return nil }

func (d *sceneDetector) Detect(img gocv.Mat) ([]convert.Detection, error) {
	dets, _, err := d.DetectInfo(img)
	return dets, err
}

func (d *sceneDetector) DetectInfo(img gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	if img.Empty() || img.Cols() != sceneW || img.Rows() != sceneH {
		return nil, d.Info(), errors.New("scene: not a scene frame")
	}
	i := frameNumber(img)
	if d.fail[i] {
		return nil, d.Info(), fmt.Errorf("frame %d: %w", i, errFake)
	}
	dets := []convert.Detection{}
	if d.miss[i] {
		return dets, d.Info(), nil
	}
	for _, o := range d.objs {
		if o.detected != nil && !o.detected(i) {
			continue
		}
		r := o.rect(i)
		dets = append(dets, convert.Detection{
			Box:   convert.Box{X1: float32(r.Min.X), Y1: float32(r.Min.Y), X2: float32(r.Max.X), Y2: float32(r.Max.Y)},
			Score: 0.9, Label: "face",
		})
	}
	return dets, d.Info(), nil
}

func frames(from, to int) map[int]bool {
	m := map[int]bool{}
	for i := from; i <= to; i++ {
		m[i] = true
	}
	return m
}

// runScene runs the pipeline over n frames of the scene with the solid
// black style and returns what was written.
func runScene(t *testing.T, det *sceneDetector, n int, o PipelineOptions) (PipelineStats, *memSink) {
	t.Helper()
	o.Hide = hide.Options{Style: hide.Solid}
	if o.Workers == 0 {
		o.Workers = 3
	}
	sink := newMemSink(t, true)
	st, err := RunPipeline(context.Background(), sceneSource(t, det.objs, n), det, sink, o)
	if err != nil {
		t.Fatalf("RunPipeline: %v", err)
	}
	if len(sink.order) != st.Written {
		t.Fatalf("%d frames written, stats say %d", len(sink.order), st.Written)
	}
	return st, sink
}

// blackIn counts the black (hidden) pixels of a written frame inside r and
// in all, and the pixels of r.
func blackIn(px []byte, r image.Rectangle) (inside, all, area int) {
	r = r.Intersect(image.Rect(0, 0, sceneW, sceneH))
	for y := range sceneH {
		for x := range sceneW {
			o := (y*sceneW + x) * 3
			if px[o] == 0 && px[o+1] == 0 && px[o+2] == 0 {
				all++
				if image.Pt(x, y).In(r) {
					inside++
				}
			}
		}
	}
	return inside, all, r.Dx() * r.Dy()
}

// wantCovered checks that the object's square in frame i was hidden whole.
func wantCovered(t *testing.T, s *memSink, o object, i int) {
	t.Helper()
	in, _, area := blackIn(s.pixels[i], o.rect(i))
	if in != area {
		t.Errorf("frame %d: %d of the square's %d pixels hidden, want all", i, in, area)
	}
}

// wantUntouched checks that nothing at all was hidden in frame i.
func wantUntouched(t *testing.T, s *memSink, i int) {
	t.Helper()
	if _, all, _ := blackIn(s.pixels[i], image.Rectangle{}); all != 0 {
		t.Errorf("frame %d: %d pixels hidden, want none", i, all)
	}
}

func sources(r FrameResult) (detected int, bySource map[string]int) {
	bySource = map[string]int{}
	for _, d := range r.Detections {
		if d.Source == "" {
			detected++
		} else {
			bySource[d.Source]++
		}
	}
	return detected, bySource
}

// TestTemporalMissedFrame is the test: a face (moving 4 px a
// frame) that the detector misses in frame 10 is still hidden there with
// Persist >= 1, and shows with Persist 0 (so the test can fail).
func TestTemporalMissedFrame(t *testing.T) {
	const n, missed = 20, 10
	face := object{rect: moving(10, 30, 20, 4, 1)}
	for _, persist := range []int{0, 1, 3, 5} {
		t.Run(fmt.Sprintf("persist=%d", persist), func(t *testing.T) {
			det := &sceneDetector{objs: []object{face}, miss: map[int]bool{missed: true}}
			st, sink := runScene(t, det, n, PipelineOptions{Persist: persist})
			if st.Written != n || st.Detections != n-1 || st.HiddenWhole != 0 {
				t.Errorf("stats %+v, want %d written, %d detections", st, n, n-1)
			}
			for i := range n {
				if i != missed {
					wantCovered(t, sink, face, i)
					continue
				}
				in, all, area := blackIn(sink.pixels[i], face.rect(i))
				dets, src := sources(sink.results[i])
				if persist == 0 {
					if all != 0 || len(sink.results[i].Detections) != 0 || st.Persisted != 0 {
						t.Errorf("frame %d: %d pixels hidden, result %+v, stats %+v; want nothing hidden without persistence", i, all, sink.results[i], st)
					}
					continue
				}
				if in != area {
					t.Errorf("frame %d (missed): %d of the face's %d pixels hidden, want all", i, in, area)
				}
				if dets != 0 || src[convert.SourcePersist] != 1 || st.Persisted != 1 {
					t.Errorf("frame %d: %d detections, sources %v, stats %+v; want one persisted region", i, dets, src, st)
				}
				if d := sink.results[i].Detections[0]; d.Label != "face" || d.Model != "" || d.Score != 0.9 {
					t.Errorf("frame %d: persisted region %+v, want the face's label and score", i, d)
				}
			}
		})
	}
}

// TestTemporalMotion: a square moving 8 px a frame, missed for 3 frames,
// is covered in each of them by its predicted region, which grows only a
// little.
func TestTemporalMotion(t *testing.T) {
	const n = 16
	face := object{rect: moving(4, 30, 20, 8, 0)}
	det := &sceneDetector{objs: []object{face}, miss: frames(10, 12)}
	st, sink := runScene(t, det, n, PipelineOptions{Persist: 5})
	if st.Persisted != 3 {
		t.Errorf("stats %+v, want 3 persisted regions", st)
	}
	for i := range n {
		wantCovered(t, sink, face, i)
		if det.miss[i] {
			// 20 px grown by 10% a missed frame, plus a pixel of rounding.
			k := i - 9
			side := int(math.Ceil(20*(1+0.1*float64(k)))) + 1
			if _, all, _ := blackIn(sink.pixels[i], image.Rectangle{}); all > side*side {
				t.Errorf("frame %d: %d pixels hidden, want at most %d (%d missed frames)", i, all, side*side, k)
			}
		}
	}
	// Without motion the prediction would stay behind: 8 px a frame is
	// more than the growth covers, so the test depends on the velocity.
	if g := 20 * DefaultTrackGrow * 3 / 2; g >= 3*8 {
		t.Fatalf("growth %v alone covers the motion; the test proves nothing", g)
	}
}

// TestTemporalExpires: after Persist missed frames the region is no longer
// hidden: no stale boxes forever.
func TestTemporalExpires(t *testing.T) {
	const n, persist = 20, 3
	face := object{rect: moving(10, 30, 20, 2, 0)}
	det := &sceneDetector{objs: []object{face}, miss: frames(10, n-1)}
	st, sink := runScene(t, det, n, PipelineOptions{Persist: persist})
	if st.Persisted != persist {
		t.Errorf("stats %+v, want %d persisted regions", st, persist)
	}
	for i := range n {
		switch {
		case i < 10+persist:
			wantCovered(t, sink, face, i)
		default:
			wantUntouched(t, sink, i)
			if len(sink.results[i].Detections) != 0 {
				t.Errorf("frame %d: %+v recorded, want nothing", i, sink.results[i].Detections)
			}
		}
	}
}

// TestTemporalLookahead: a face first detected at frame 20 is also hidden
// in frames 15..19 with Lookahead 5, moved back along its motion (5 px a
// frame, more than the growth covers), and not with Lookahead 0. A face
// first detected in the last frame, whose motion is unknown, is hidden in
// place before it.
func TestTemporalLookahead(t *testing.T) {
	const n = 26
	late := object{rect: moving(2, 10, 16, 5, 0), detected: func(i int) bool { return i >= 20 }}
	last := object{rect: moving(120, 60, 16, 0, 0), detected: func(i int) bool { return i == n-1 }}
	for _, tc := range []struct{ lookahead, persist, workers int }{{0, 0, 3}, {5, 0, 3}, {5, 3, 1}, {5, 2, 4}} {
		t.Run(fmt.Sprintf("lookahead=%d,persist=%d,workers=%d", tc.lookahead, tc.persist, tc.workers), func(t *testing.T) {
			det := &sceneDetector{objs: []object{late, last}}
			st, sink := runScene(t, det, n, PipelineOptions{Lookahead: tc.lookahead, Persist: tc.persist, Workers: tc.workers, Queue: 1})
			if st.Written != n {
				t.Fatalf("stats %+v, want all %d frames written", st, n)
			}
			for i := range n {
				if i < 15 {
					wantUntouched(t, sink, i)
					continue
				}
				if i >= 20 {
					wantCovered(t, sink, late, i)
				}
				_, src := sources(sink.results[i])
				switch {
				case i < 20 && tc.lookahead == 0:
					wantUntouched(t, sink, i)
				case i < 20:
					wantCovered(t, sink, late, i)
					if i >= n-1-tc.lookahead {
						wantCovered(t, sink, last, i)
					}
					if want := 1 + btoi(i >= n-1-tc.lookahead); src[convert.SourceLookahead] != want {
						t.Errorf("frame %d: %d look-ahead regions recorded, want %d", i, src[convert.SourceLookahead], want)
					}
				case i < n-1 && i >= n-1-tc.lookahead:
					wantCovered(t, sink, last, i)
				}
			}
			if want := 2 * tc.lookahead; st.LookedAhead != want {
				t.Errorf("stats %+v, want %d look-ahead regions", st, want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTemporalFailedFrame: a frame whose detection failed is hidden whole
// (or dropped) and counted, updates no track and gets no tracked region;
// the face is still persisted into the frame after it, which the detector
// misses.
func TestTemporalFailedFrame(t *testing.T) {
	const n = 16
	face := object{rect: moving(10, 30, 20, 4, 0)}
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("drop=%v", drop), func(t *testing.T) {
			det := &sceneDetector{objs: []object{face}, fail: map[int]bool{10: true}, miss: map[int]bool{11: true}}
			st, sink := runScene(t, det, n, PipelineOptions{Persist: 3, Lookahead: 2, DropOnError: drop})
			want := PipelineStats{Read: n, Written: n, HiddenWhole: 1, Detections: n - 2, Persisted: 1}
			if drop {
				want = PipelineStats{Read: n, Written: n - 1, Dropped: 1, Detections: n - 2, Persisted: 1}
			}
			st.Elapsed = 0
			if st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			r := sink.results[10]
			if drop {
				if _, ok := sink.results[10]; ok {
					t.Error("frame 10 written, want it dropped")
				}
			} else if !r.HiddenWhole || !errors.Is(r.Err, errFake) || len(r.Detections) != 0 {
				t.Errorf("frame 10: result %+v, want hidden whole with the error and nothing recorded", r)
			} else if _, all, _ := blackIn(sink.pixels[10], image.Rectangle{}); all != sceneW*sceneH {
				t.Errorf("frame 10: %d pixels hidden, want all", all)
			}
			wantCovered(t, sink, face, 11)
			if _, src := sources(sink.results[11]); src[convert.SourcePersist] != 1 {
				t.Errorf("frame 11: sources %v, want one persisted region", src)
			}
		})
	}
}

// TestTemporalInFlight: with look-ahead the frames held back count in the
// bound on frames in flight (Queue+Workers+Lookahead+1), and a small
// Queue does not deadlock the pipeline.
func TestTemporalInFlight(t *testing.T) {
	const n, workers, queue, lookahead = 60, 1, 1, 8
	face := object{rect: moving(10, 30, 20, 1, 0), detected: func(i int) bool { return i%20 == 0 }}
	det := &sceneDetector{objs: []object{face}}
	src := sceneSource(t, det.objs, n)
	var mu sync.Mutex
	var reads, writes, most int
	frame := src.frame
	src.frame = func(i int) gocv.Mat {
		mu.Lock()
		reads++
		most = max(most, reads-writes)
		mu.Unlock()
		return frame(i)
	}
	sink := newMemSink(t, false)
	sink.onWrite = func(Frame, FrameResult) {
		mu.Lock()
		writes++
		mu.Unlock()
	}
	st, err := RunPipeline(context.Background(), src, det, sink, PipelineOptions{Workers: workers, Queue: queue, Lookahead: lookahead, Hide: hide.Options{Style: hide.Solid}})
	if err != nil {
		t.Fatalf("RunPipeline: %v", err)
	}
	if st.Written != n {
		t.Errorf("stats %+v, want %d written", st, n)
	}
	if bound := queue + workers + lookahead + 1; most > bound || most <= lookahead {
		t.Errorf("%d frames in flight at most, want more than %d (the frames held back) and at most %d", most, lookahead, bound)
	}
}

// TestTemporalHideBy: tracked regions are hidden in the style the model
// whose detection they come from carries (its Info).
func TestTemporalHideBy(t *testing.T) {
	const n = 12
	face := object{rect: moving(10, 30, 20, 3, 0)}
	det := &modelNamer{Detector: &sceneDetector{objs: []object{face}, miss: map[int]bool{8: true}}, name: "faces",
		style: &convert.Style{Style: "solid", Colour: "#ffffff"}}
	sink := newMemSink(t, true)
	st, err := RunPipeline(context.Background(), sceneSource(t, []object{face}, n), det, sink, PipelineOptions{
		Workers: 2, Persist: 2, Hide: hide.Options{Style: hide.Solid},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Persisted != 1 {
		t.Errorf("stats %+v, want one persisted region", st)
	}
	for i := range n {
		r := face.rect(i)
		px := sink.pixels[i]
		var white int
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				o := (y*sceneW + x) * 3
				if px[o] == 255 && px[o+1] == 255 && px[o+2] == 255 {
					white++
				}
			}
		}
		if white != r.Dx()*r.Dy() {
			t.Errorf("frame %d: %d of %d pixels in the model's white, want all", i, white, r.Dx()*r.Dy())
		}
	}
}

// modelNamer sets Detection.Model, as an infer.Set does.
// modelNamer names the detections of a detector as one model's, which
// carries style (nil: none of its own).
type modelNamer struct {
	Detector
	name  string
	style *convert.Style
}

func (m *modelNamer) DetectInfo(img gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	dets, info, err := m.Detector.DetectInfo(img)
	for i := range dets {
		dets[i].Model = m.name
	}
	info.Name, info.Style = m.name, m.style
	return dets, info, err
}

// frameNumber reads the frame number a test wrote into pixel (0,0): blue
// is its low byte, green its high byte.
func frameNumber(img gocv.Mat) int {
	v := img.GetVecbAt(0, 0)
	return int(v[0]) | int(v[1])<<8
}

// dropFrames wraps a detector and drops every detection in the frames in
// drop; a frame's number is in the blue and green of pixel (0,0).
type dropFrames struct {
	Detector
	drop map[int]bool
}

func (d *dropFrames) DetectInfo(img gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	i := frameNumber(img)
	dets, info, err := d.Detector.DetectInfo(img)
	if err == nil && d.drop[i] {
		dets = dets[:0]
	}
	return dets, info, err
}

// TestTemporalRealModel: yunet-n-dynamic on group_uf2.jpg shifted 3 px a
// frame; a wrapper drops all its detections in frame 7. With Persist the
// four faces of frame 7 are hidden (black at each face centre); without,
// they show.
func TestTemporalRealModel(t *testing.T) {
	const n, dropped, step = 20, 7, 3
	yunet := loadYunet(t, 0)
	orig, err := imageio.Read(testenv.Shared(t, "data/faces/group_uf2.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	w, h := orig.Cols(), orig.Rows()
	src := &sliceSource{n: n, frame: func(i int) gocv.Mat {
		m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
		m.SetTo(gocv.NewScalar(128, 128, 128, 0))
		from := orig.Region(image.Rect(0, 0, w-step*i, h))
		to := m.Region(image.Rect(step*i, 0, w, h))
		from.CopyTo(&to)
		from.Close()
		to.Close()
		if px, err := m.DataPtrUint8(); err == nil {
			px[0], px[1] = uint8(i), uint8(i>>8)
		}
		return m
	}}
	for _, persist := range []int{0, 2} {
		t.Run(fmt.Sprintf("persist=%d", persist), func(t *testing.T) {
			src.next = 0
			det := &dropFrames{Detector: yunet, drop: map[int]bool{dropped: true}}
			var mu sync.Mutex
			hidden := map[int]int{} // frame → face centres that are black
			sink := newMemSink(t, false)
			sink.onWrite = func(f Frame, r FrameResult) {
				var k int
				for _, c := range groupFaceCentres {
					v := f.Mat.GetVecbAt(c[1], c[0]+step*f.Index)
					if v[0] == 0 && v[1] == 0 && v[2] == 0 {
						k++
					}
				}
				mu.Lock()
				hidden[f.Index] = k
				mu.Unlock()
			}
			st, err := RunPipeline(context.Background(), src, det, sink, PipelineOptions{
				Workers: 2, Persist: persist, Hide: hide.Options{Style: hide.Solid},
			})
			if err != nil {
				t.Fatalf("RunPipeline: %v", err)
			}
			if st.Written != n || st.Detections != 4*(n-1) {
				t.Fatalf("stats %+v, want %d frames, 4 faces in each but frame %d", st, n, dropped)
			}
			for i := range n {
				want := len(groupFaceCentres)
				if i == dropped && persist == 0 {
					want = 0
				}
				if hidden[i] != want {
					t.Errorf("frame %d: %d face centres hidden, want %d", i, hidden[i], want)
				}
			}
			if want := 4 * min(persist, 1); st.Persisted != want {
				t.Errorf("stats %+v, want %d persisted regions", st, want)
			}
		})
	}
}

// TestTemporalStopsAtEnd: a sink error or a cancellation while the frames
// held back for look-ahead are finished after the source's end stops the
// pipeline with that error, and closes the frames still held (the
// matprofile build's TestMain checks that nothing leaks).
func TestTemporalStopsAtEnd(t *testing.T) {
	const n, at = 20, 16
	errSink := errors.New("sink broke")
	face := object{rect: moving(10, 30, 20, 2, 0), detected: func(i int) bool { return i >= 12 }}
	for _, cancelIt := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancel=%v", cancelIt), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			det := &sceneDetector{objs: []object{face}}
			sink := newMemSink(t, false)
			want := error(errSink)
			if cancelIt {
				want = context.Canceled
				sink.onWrite = func(f Frame, _ FrameResult) {
					if f.Index == at {
						cancel()
					}
				}
			} else {
				sink.errAt, sink.err = at, errSink
			}
			st, err := RunPipeline(ctx, sceneSource(t, det.objs, n), det, sink, PipelineOptions{
				Workers: 2, Persist: 2, Lookahead: 8, Hide: hide.Options{Style: hide.Solid},
			})
			if !errors.Is(err, want) {
				t.Fatalf("RunPipeline: error %v, want %v", err, want)
			}
			if st.Read != n {
				t.Errorf("%d frames read, want all %d (the error comes after the source's end)", st.Read, n)
			}
			if wantWritten := at + btoi(cancelIt); st.Written != wantWritten {
				t.Errorf("%d frames written, want %d", st.Written, wantWritten)
			}
		})
	}
}
