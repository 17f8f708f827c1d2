package video

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video/hide"
)

// Synthetic frames: synthW×synthH BGR, a background that depends on the
// position and the frame index, the index itself in pixel (0,0) (blue =
// low byte, green = high byte, red = 0), and a pure red synthSide square
// whose place depends on the index. The background's red never exceeds 40,
// so the square is the only pure red in a frame.
const (
	synthW, synthH = 64, 48
	synthSide      = 10
)

func synthSquare(i int) image.Rectangle {
	x := 2 + (i*3)%(synthW-synthSide-4)
	y := 2 + (i*5)%(synthH-synthSide-4)
	return image.Rect(x, y, x+synthSide, y+synthSide)
}

func synthPixels(i int) []byte {
	b := make([]byte, synthW*synthH*3)
	sq := synthSquare(i)
	for y := range synthH {
		for x := range synthW {
			p := b[(y*synthW+x)*3:]
			switch {
			case x == 0 && y == 0:
				p[0], p[1], p[2] = byte(i), byte(i>>8), 0
			case image.Pt(x, y).In(sq):
				p[0], p[1], p[2] = 0, 0, 255
			default:
				p[0], p[1], p[2] = byte(x*4+i), byte(y*5+2*i), byte((x+y+i)%41)
			}
		}
	}
	return b
}

func synthFrame(t testing.TB, i int) gocv.Mat {
	m := gocv.NewMatWithSize(synthH, synthW, gocv.MatTypeCV8UC3)
	dst, err := m.DataPtrUint8()
	if err != nil {
		m.Close()
		t.Fatalf("frame %d: %v", i, err)
	}
	copy(dst, synthPixels(i))
	return m
}

// sliceSource yields n frames made by frame, then io.EOF; with err set it
// returns err instead of frame errAt.
type sliceSource struct {
	n     int
	frame func(i int) gocv.Mat
	errAt int
	err   error
	next  int
}

func (s *sliceSource) Read() (Frame, error) {
	if s.err != nil && s.next == s.errAt {
		return Frame{}, s.err
	}
	if s.next >= s.n {
		return Frame{}, io.EOF
	}
	i := s.next
	s.next++
	return Frame{Index: i, PTS: time.Duration(i) * time.Second / 25, Mat: s.frame(i)}, nil
}

func (s *sliceSource) Close() error { return nil }

// memSink checks that frames come in strictly increasing Index order and
// records each frame's result (and, with keep, a copy of its pixels). It
// closes every frame it is given, also when it fails. With errAt >= 0 it
// fails the write of that frame; onWrite runs on each frame before that.
type memSink struct {
	t       testing.TB
	keep    bool
	errAt   int
	err     error
	onWrite func(Frame, FrameResult)

	mu      sync.Mutex
	order   []int
	results map[int]FrameResult
	pixels  map[int][]byte
}

func newMemSink(t testing.TB, keep bool) *memSink {
	return &memSink{t: t, keep: keep, errAt: -1, results: map[int]FrameResult{}, pixels: map[int][]byte{}}
}

func (s *memSink) Write(f Frame, r FrameResult) error {
	defer f.Mat.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.order); n > 0 && f.Index <= s.order[n-1] {
		s.t.Errorf("frame %d written after frame %d", f.Index, s.order[n-1])
	}
	s.order = append(s.order, f.Index)
	if f.Index == s.errAt {
		return s.err
	}
	if s.onWrite != nil {
		s.onWrite(f, r)
	}
	s.results[f.Index] = r
	if s.keep {
		s.pixels[f.Index] = f.Mat.ToBytes()
	}
	return nil
}

func (s *memSink) Close() error { return nil }

// fakeDetector finds the red square of a synthetic frame after a random
// short delay (to shuffle the order in which workers finish). It fails on
// the frames in fail and, for a frame in block, waits until that channel
// is closed (also when every is set: then it waits on every frame).
type fakeDetector struct {
	fail  map[int]bool
	block map[int]chan struct{}
	every chan struct{}

	mu         sync.Mutex
	rng        *rand.Rand
	inFlight   int
	maxFlight  int
	calls      int
	blockedNow map[int]bool
}

func newFake(seed uint64) *fakeDetector {
	return &fakeDetector{rng: rand.New(rand.NewPCG(seed, 1)), blockedNow: map[int]bool{}}
}

var errFake = errors.New("fake inference error")

func (d *fakeDetector) Info() convert.ModelInfo { return convert.ModelInfo{Name: "fake", Version: "1"} }
func (d *fakeDetector) Close() error            { return nil }

func (d *fakeDetector) Detect(img gocv.Mat) ([]convert.Detection, error) {
	dets, _, err := d.DetectInfo(img)
	return dets, err
}

func (d *fakeDetector) DetectInfo(img gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	d.mu.Lock()
	d.calls++
	d.inFlight++
	d.maxFlight = max(d.maxFlight, d.inFlight)
	spins, nap := d.rng.IntN(50), d.rng.IntN(4) == 0
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.inFlight--
		d.mu.Unlock()
	}()

	// Perturb the order in which workers finish (not synchronisation).
	for range spins {
		runtime.Gosched()
	}
	if nap {
		time.Sleep(time.Duration(spins) * 10 * time.Microsecond)
	}

	if img.Empty() || img.Cols() != synthW || img.Rows() != synthH {
		return nil, d.Info(), errors.New("fake: not a synthetic frame")
	}
	px, err := img.DataPtrUint8()
	if err != nil {
		return nil, d.Info(), err
	}
	i := int(px[0]) | int(px[1])<<8
	if gate := d.gate(i); gate != nil {
		d.mu.Lock()
		d.blockedNow[i] = true
		d.mu.Unlock()
		<-gate
		d.mu.Lock()
		delete(d.blockedNow, i)
		d.mu.Unlock()
	}
	if d.fail[i] {
		return nil, d.Info(), fmt.Errorf("frame %d: %w", i, errFake)
	}
	box := image.Rectangle{Min: image.Pt(synthW, synthH)}
	for y := range synthH {
		for x := range synthW {
			p := px[(y*synthW+x)*3:]
			if p[0] == 0 && p[1] == 0 && p[2] == 255 {
				box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
				box.Max.X, box.Max.Y = max(box.Max.X, x+1), max(box.Max.Y, y+1)
			}
		}
	}
	if box.Empty() {
		return []convert.Detection{}, d.Info(), nil
	}
	return []convert.Detection{{
		Box:   convert.Box{X1: float32(box.Min.X), Y1: float32(box.Min.Y), X2: float32(box.Max.X), Y2: float32(box.Max.Y)},
		Score: 0.9, Label: "face",
	}}, d.Info(), nil
}

func (d *fakeDetector) gate(i int) chan struct{} {
	if d.every != nil {
		return d.every
	}
	return d.block[i]
}

// checkHidden compares the pixels written for synthetic frame i with what
// they should be: the square (or, with whole, every pixel) in colour c, the
// rest as made.
func checkHidden(t *testing.T, i int, got []byte, c color.RGBA, whole bool) {
	t.Helper()
	want := synthPixels(i)
	if len(got) != len(want) {
		t.Errorf("frame %d: %d bytes written, want %d", i, len(got), len(want))
		return
	}
	sq := synthSquare(i)
	var notHidden, changed int
	for y := range synthH {
		for x := range synthW {
			o := (y*synthW + x) * 3
			g, w := got[o:o+3], want[o:o+3]
			if whole || image.Pt(x, y).In(sq) {
				if g[0] != c.B || g[1] != c.G || g[2] != c.R {
					notHidden++
				}
			} else if g[0] != w[0] || g[1] != w[1] || g[2] != w[2] {
				changed++
			}
		}
	}
	if notHidden > 0 || changed > 0 {
		t.Errorf("frame %d (whole %v): %d pixels not hidden, %d pixels outside the square changed", i, whole, notHidden, changed)
	}
}

func synthSource(t testing.TB, n int) *sliceSource {
	return &sliceSource{n: n, frame: func(i int) gocv.Mat { return synthFrame(t, i) }}
}

// TestPipelineOrder: with any number of workers finishing in any order,
// every frame is written once, in order, with its square hidden and the
// rest untouched.
func TestPipelineOrder(t *testing.T) {
	const n = 200
	for _, tc := range []struct{ workers, queue int }{{1, 1}, {2, 0}, {7, 3}} {
		t.Run(fmt.Sprintf("workers=%d,queue=%d", tc.workers, tc.queue), func(t *testing.T) {
			sink := newMemSink(t, true)
			st, err := RunPipeline(context.Background(), synthSource(t, n), newFake(uint64(tc.workers)), sink, PipelineOptions{
				Workers: tc.workers, Queue: tc.queue, Hide: hide.Options{Style: hide.Solid},
			})
			if err != nil {
				t.Fatalf("RunPipeline: %v", err)
			}
			if st.Read != n || st.Written != n || st.Detections != n || st.HiddenWhole != 0 || st.Dropped != 0 {
				t.Errorf("stats %+v, want %d read, written and detections, nothing hidden whole or dropped", st, n)
			}
			if len(sink.order) != n {
				t.Fatalf("%d frames written, want %d", len(sink.order), n)
			}
			for i := range n {
				if sink.order[i] != i {
					t.Fatalf("write %d was frame %d", i, sink.order[i])
				}
				r := sink.results[i]
				if r.Err != nil || r.HiddenWhole || len(r.Detections) != 1 || r.Model.Name != "fake" {
					t.Errorf("frame %d: result %+v, want one detection by the fake and no error", i, r)
				}
				checkHidden(t, i, sink.pixels[i], color.RGBA{}, false)
			}
		})
	}
}

// TestPipelineFailClosed: frames the detector fails on are hidden whole,
// or not written at all with DropOnError, and counted; the rest go on in
// order.
func TestPipelineFailClosed(t *testing.T) {
	const n = 40
	fill := color.RGBA{R: 200, G: 10, B: 60, A: 255}
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("drop=%v", drop), func(t *testing.T) {
			det := newFake(7)
			det.fail = map[int]bool{3: true, 7: true}
			sink := newMemSink(t, true)
			onDrop := 0 // OnDrop is called from the writer alone
			st, err := RunPipeline(context.Background(), synthSource(t, n), det, sink, PipelineOptions{
				Workers: 3, Queue: 2, DropOnError: drop, Hide: hide.Options{Style: hide.Solid, Colour: fill},
				OnDrop: func() { onDrop++ },
			})
			if err != nil {
				t.Fatalf("RunPipeline: %v (a failed detection is not a pipeline error)", err)
			}
			if onDrop != st.Dropped {
				t.Errorf("OnDrop called %d times for %d frames dropped", onDrop, st.Dropped)
			}
			want := PipelineStats{Read: n, Written: n - 2, Dropped: 2, Detections: n - 2}
			if !drop {
				want = PipelineStats{Read: n, Written: n, HiddenWhole: 2, Detections: n - 2}
			}
			st.Elapsed = 0
			if st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			var wantOrder []int
			for i := range n {
				if drop && det.fail[i] {
					continue
				}
				wantOrder = append(wantOrder, i)
			}
			if fmt.Sprint(sink.order) != fmt.Sprint(wantOrder) {
				t.Fatalf("frames written %v, want %v", sink.order, wantOrder)
			}
			for _, i := range wantOrder {
				r := sink.results[i]
				if det.fail[i] {
					if !r.HiddenWhole || !errors.Is(r.Err, errFake) || r.Model.Name != "fake" {
						t.Errorf("frame %d: result %+v, want hidden whole with the fake's error", i, r)
					}
				} else if r.HiddenWhole || r.Err != nil {
					t.Errorf("frame %d: result %+v, want hidden normally", i, r)
				}
				checkHidden(t, i, sink.pixels[i], fill, det.fail[i])
			}
		})
	}
}

// TestPipelineEmptyFrame: a frame that cannot be hidden even whole (an
// empty Mat) is dropped, also without DropOnError, and counted.
func TestPipelineEmptyFrame(t *testing.T) {
	const n = 6
	src := &sliceSource{n: n, frame: func(i int) gocv.Mat {
		if i == 2 {
			return gocv.NewMat()
		}
		return synthFrame(t, i)
	}}
	sink := newMemSink(t, true)
	st, err := RunPipeline(context.Background(), src, newFake(2), sink, PipelineOptions{Workers: 2, Hide: hide.Options{Style: hide.Solid}})
	if err != nil {
		t.Fatalf("RunPipeline: %v", err)
	}
	if st.Read != n || st.Written != n-1 || st.Dropped != 1 || st.HiddenWhole != 0 {
		t.Errorf("stats %+v, want frame 2 dropped and the rest written", st)
	}
	if got := fmt.Sprint(sink.order); got != "[0 1 3 4 5]" {
		t.Errorf("frames written %s, want [0 1 3 4 5]", got)
	}
	for _, i := range sink.order {
		checkHidden(t, i, sink.pixels[i], color.RGBA{}, false)
	}
}

// waitGoroutines polls until no more than n goroutines run, for at most a
// few seconds (goroutines that have finished their work still need to be
// scheduled to exit); it returns the last count.
func waitGoroutines(n int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := runtime.NumGoroutine()
		if got <= n || time.Now().After(deadline) {
			return got
		}
		runtime.Gosched()
	}
}

// TestPipelineTimeout: a detection that does not answer in time leaves its
// frame hidden whole and the pipeline goes on; when the late call returns,
// its Mat is closed and its goroutines exit.
func TestPipelineTimeout(t *testing.T) {
	const n = 20
	det := newFake(5)
	gate := make(chan struct{})
	det.block = map[int]chan struct{}{5: gate}
	sink := newMemSink(t, true)
	base := runtime.NumGoroutine()
	st, err := RunPipeline(context.Background(), synthSource(t, n), det, sink, PipelineOptions{
		Workers: 2, Queue: 2, Timeout: 300 * time.Millisecond, Hide: hide.Options{Style: hide.Solid},
	})
	det.mu.Lock()
	stillBlocked := det.blockedNow[5]
	det.mu.Unlock()
	close(gate)
	if err != nil {
		t.Fatalf("RunPipeline: %v", err)
	}
	if !stillBlocked {
		t.Error("the detection of frame 5 returned before the pipeline did; the test proves nothing")
	}
	if st.Read != n || st.Written != n || st.HiddenWhole != 1 || st.Dropped != 0 || st.Detections != n-1 {
		t.Errorf("stats %+v, want all %d written, one hidden whole", st, n)
	}
	for i := range n {
		r := sink.results[i]
		if i == 5 {
			if !r.HiddenWhole || !errors.Is(r.Err, ErrDetectTimeout) {
				t.Errorf("frame 5: result %+v, want hidden whole after a timeout", r)
			}
		} else if r.Err != nil || r.HiddenWhole {
			t.Errorf("frame %d: result %+v, want hidden normally", i, r)
		}
		checkHidden(t, i, sink.pixels[i], color.RGBA{}, i == 5)
	}
	if got := waitGoroutines(base); got > base {
		t.Errorf("%d goroutines after the late detection returned, %d before the pipeline ran", got, base)
	}
}

// TestPipelineHungDetector: a detector that answers nothing gets at most
// Workers timed-out calls (plus Workers running): every further frame is
// hidden whole at once instead of queueing more calls, and every frame is
// still written, hidden.
func TestPipelineHungDetector(t *testing.T) {
	const n, workers = 30, 2
	det := newFake(11)
	det.every = make(chan struct{})
	sink := newMemSink(t, true)
	base := runtime.NumGoroutine()
	st, err := RunPipeline(context.Background(), synthSource(t, n), det, sink, PipelineOptions{
		Workers: workers, Timeout: 20 * time.Millisecond, Hide: hide.Options{Style: hide.Solid},
	})
	close(det.every)
	if err != nil {
		t.Fatalf("RunPipeline: %v", err)
	}
	if st.Written != n || st.HiddenWhole != n {
		t.Errorf("stats %+v, want all %d written and hidden whole", st, n)
	}
	for i := range n {
		if r := sink.results[i]; !errors.Is(r.Err, ErrDetectTimeout) {
			t.Errorf("frame %d: error %v, want a timeout", i, r.Err)
		}
		checkHidden(t, i, sink.pixels[i], color.RGBA{}, true)
	}
	det.mu.Lock()
	calls, most := det.calls, det.maxFlight
	det.mu.Unlock()
	if most > 2*workers || calls >= n {
		t.Errorf("%d calls, at most %d at once, to a hung detector; want at most %d at once, and frames failed without a call", calls, most, 2*workers)
	}
	if got := waitGoroutines(base); got > base {
		t.Errorf("%d goroutines after the hung calls returned, %d before", got, base)
	}
}

// TestPipelineStops: an error from the source or the sink, or a cancelled
// context, stops the pipeline with that error; frames in flight, and those
// held back for look-ahead, are closed (the matprofile build's TestMain
// checks that nothing leaks).
func TestPipelineStops(t *testing.T) {
	for _, temporal := range []bool{false, true} {
		t.Run(fmt.Sprintf("temporal=%v", temporal), func(t *testing.T) { testPipelineStops(t, temporal) })
	}
}

func testPipelineStops(t *testing.T, temporal bool) {
	errSrc := errors.New("source broke")
	errSink := errors.New("sink broke")
	const n = 100
	tests := []struct {
		name        string
		setup       func(src *sliceSource, sink *memSink, cancel context.CancelFunc)
		preCancel   bool
		want        error
		wantWritten int // -1: at most the frames read
		wantRead    int // -1: any
	}{
		{
			name:  "sink error",
			setup: func(_ *sliceSource, sink *memSink, _ context.CancelFunc) { sink.errAt, sink.err = 10, errSink },
			want:  errSink, wantWritten: 10, wantRead: -1,
		},
		{
			name:  "source error",
			setup: func(src *sliceSource, _ *memSink, _ context.CancelFunc) { src.errAt, src.err = 20, errSrc },
			want:  errSrc, wantWritten: -1, wantRead: 20,
		},
		{
			name: "cancel",
			setup: func(_ *sliceSource, sink *memSink, cancel context.CancelFunc) {
				sink.onWrite = func(f Frame, _ FrameResult) {
					if f.Index == 50 {
						cancel()
					}
				}
			},
			want: context.Canceled, wantWritten: 51, wantRead: -1,
		},
		{
			name:      "cancelled before the start",
			setup:     func(*sliceSource, *memSink, context.CancelFunc) {},
			preCancel: true,
			want:      context.Canceled, wantWritten: 0, wantRead: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src, sink := synthSource(t, n), newMemSink(t, false)
			tc.setup(src, sink, cancel)
			if tc.preCancel {
				cancel()
			}
			o := PipelineOptions{Workers: 3, Queue: 2, Timeout: time.Minute}
			if temporal {
				o.Persist, o.Lookahead = 3, 6
			}
			st, err := RunPipeline(ctx, src, newFake(3), sink, o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("RunPipeline: error %v, want %v", err, tc.want)
			}
			if tc.want == context.Canceled && err != context.Canceled {
				t.Errorf("error %v, want ctx.Err() itself", err)
			}
			if tc.wantRead >= 0 && st.Read != tc.wantRead {
				t.Errorf("%d frames read, want %d", st.Read, tc.wantRead)
			}
			if st.Read >= n {
				t.Errorf("all %d frames read; the pipeline did not stop", st.Read)
			}
			if tc.wantWritten >= 0 && st.Written != tc.wantWritten {
				t.Errorf("%d frames written, want %d", st.Written, tc.wantWritten)
			}
			if st.Written > st.Read {
				t.Errorf("stats %+v: more written than read", st)
			}
			for i, idx := range sink.order {
				if idx != i {
					t.Fatalf("write %d was frame %d", i, idx)
				}
			}
		})
	}
}

// TestPipelineBadOptions: options are checked before anything is read.
func TestPipelineBadOptions(t *testing.T) {
	for _, o := range []PipelineOptions{
		{Hide: hide.Options{Style: "smudge"}},
		{Timeout: -time.Second},
	} {
		src := synthSource(t, 3)
		if _, err := RunPipeline(context.Background(), src, newFake(1), newMemSink(t, false), o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
		if src.next != 0 {
			t.Errorf("options %+v: %d frames read before the options were checked", o, src.next)
		}
	}
}
