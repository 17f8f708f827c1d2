package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video"
)

// ---- test doubles ------------------------------------------------------------

// liveFakeCapture stands in for a camera: every Read copies a template
// frame, with the frame's number in pixel (0,0), as fast as it is called.
// With limit > 0, Read fails after that many frames (the stream is lost).
// reached is closed once at frames have been read.
type liveFakeCapture struct {
	tmpl    gocv.Mat
	fps     float64
	limit   int64
	at      int64
	reached chan struct{}

	n      atomic.Int64
	closed atomic.Int32
}

func newLiveFakeCapture(tmpl gocv.Mat, limit int64) *liveFakeCapture {
	return &liveFakeCapture{tmpl: tmpl, limit: limit, reached: make(chan struct{})}
}

func (c *liveFakeCapture) Read(m *gocv.Mat) bool {
	i := c.n.Add(1)
	if c.limit > 0 && i > c.limit {
		return false
	}
	c.tmpl.CopyTo(m)
	m.SetUCharAt(0, 0, uint8(i))
	if i == c.at {
		close(c.reached)
	}
	return true
}

func (c *liveFakeCapture) FPS() float64 { return c.fps }
func (c *liveFakeCapture) Close() error { c.closed.Add(1); return nil }

// liveTemplate is a w×h grey BGR frame; the caller closes it.
func liveTemplate(w, h int) gocv.Mat {
	return gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 120, 150, 0), h, w, gocv.MatTypeCV8UC3)
}

// liveGatedDetector finds nothing, and each call waits until gate is
// closed: a detector far slower than the camera.
type liveGatedDetector struct {
	gate  chan struct{}
	calls atomic.Int64
}

func (d *liveGatedDetector) Detect(img gocv.Mat) ([]convert.Detection, error) {
	dets, _, err := d.DetectInfo(img)
	return dets, err
}

func (d *liveGatedDetector) DetectInfo(gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	d.calls.Add(1)
	<-d.gate
	return []convert.Detection{}, d.Info(), nil
}

func (d *liveGatedDetector) Info() convert.ModelInfo {
	return convert.ModelInfo{Name: "gated", Version: "1"}
}
func (d *liveGatedDetector) Close() error { return nil }

// countSink closes every frame and counts them.
type countSink struct {
	mu      sync.Mutex
	indexes []int
}

func (s *countSink) Write(f video.Frame, _ video.FrameResult) error {
	s.mu.Lock()
	s.indexes = append(s.indexes, f.Index)
	s.mu.Unlock()
	return f.Mat.Close()
}

func (s *countSink) Close() error { return nil }

// ---- capture -----------------------------------------------------------------

// TestLiveCaptureNeverWaitsForDetector: with a detector that does not
// answer, the capture goroutine keeps reading (the camera is never held
// up), the queue keeps only the newest frames, and every frame it let go
// is closed and counted.
func TestLiveCaptureNeverWaitsForDetector(t *testing.T) {
	tmpl := liveTemplate(64, 48)
	defer tmpl.Close()
	const enough = 500
	cam := newLiveFakeCapture(tmpl, 0)
	cam.at = enough
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src := Start(ctx, cam, nil, Options{Name: "fake camera", Queue: 2})
	det := &liveGatedDetector{gate: make(chan struct{})}
	sink := &countSink{}
	type result struct {
		st  video.PipelineStats
		err error
	}
	res := make(chan result, 1)
	go func() {
		st, err := video.RunPipeline(ctx, src, det, sink, video.PipelineOptions{Workers: 2, Queue: 2})
		res <- result{st, err}
	}()

	// The detector answers nothing until the camera has given `enough`
	// frames: reaching that count proves capture does not wait on it.
	select {
	case <-cam.reached:
	case <-time.After(20 * time.Second):
		t.Fatalf("capture stalled behind a blocked detector: %d frames read", cam.n.Load())
	}
	ls := src.Stats()
	// In flight at most: the pipeline's Queue+Workers, the frame its reader
	// holds, and the source's queue of 2.
	if inFlight := ls.Captured - ls.Dropped; inFlight > 2+2+1+2 {
		t.Errorf("captured %d, dropped %d: %d frames held, want at most 7 with a blocked detector", ls.Captured, ls.Dropped, inFlight)
	}
	if ls.Dropped < enough-10 {
		t.Errorf("dropped %d of %d frames captured while the detector was blocked", ls.Dropped, ls.Captured)
	}

	close(det.gate)
	cancel()
	r := <-res
	if r.err != nil && !errors.Is(r.err, context.Canceled) {
		t.Fatalf("pipeline: %v", r.err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	ls = src.Stats()
	if int64(r.st.Read)+ls.Dropped > ls.Captured {
		t.Errorf("pipeline read %d + dropped %d > captured %d", r.st.Read, ls.Dropped, ls.Captured)
	}
	if !slices.IsSorted(sink.indexes) {
		t.Errorf("frames written out of capture order: %v", sink.indexes)
	}
	if cam.closed.Load() != 1 {
		t.Errorf("capture closed %d times, want 1", cam.closed.Load())
	}
}

// TestLiveReconnect: a source lost twice, whose reopening fails twice in
// between, comes back each time; every loss, failed attempt and reconnect
// is logged, and frames keep their capture order.
func TestLiveReconnect(t *testing.T) {
	tmpl := liveTemplate(32, 24)
	defer tmpl.Close()
	var log testenv.LogBuffer
	var opens atomic.Int32
	open := func() (Capture, error) {
		switch opens.Add(1) {
		case 2, 3: // the first two tries after the first loss fail
			return nil, errors.New("connection refused")
		}
		return newLiveFakeCapture(tmpl, 5), nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src := Start(ctx, nil, open, Options{
		Name: "rtsp://user:secret@127.0.0.1:1/cam", Queue: 100,
		ReconnectMin: time.Millisecond, ReconnectMax: 4 * time.Millisecond, Log: log.Logger(),
	})
	defer src.Close()
	var got []int
	for len(got) < 15 { // three connections of five frames
		f, err := src.Read()
		if err != nil {
			t.Fatalf("read after %d frames: %v", len(got), err)
		}
		got = append(got, f.Index)
		f.Mat.Close()
	}
	if !slices.IsSorted(got) {
		t.Errorf("frame indexes out of order: %v", got)
	}
	if n := src.Stats().Reconnects; n < 2 {
		t.Errorf("%d reconnects counted, want at least 2", n)
	}
	logs := log.String()
	for _, want := range []string{"live source opened", "live source lost; reconnecting", "live source not opened; retrying", "live source reconnected"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "secret") {
		t.Errorf("log shows the stream's password:\n%s", logs)
	}
	cancel()
	if _, err := src.Read(); err != io.EOF {
		t.Errorf("read after cancel: %v, want io.EOF", err)
	}
}

// TestLiveFileEndsAndPaces: a source without an Opener (a file) ends at its
// last frame; with RealTime its frames come no faster than its frame rate.
func TestLiveFileEndsAndPaces(t *testing.T) {
	tmpl := liveTemplate(32, 24)
	defer tmpl.Close()
	cam := newLiveFakeCapture(tmpl, 10)
	cam.fps = 50
	src := Start(t.Context(), cam, nil, Options{Queue: 100, RealTime: true})
	defer src.Close()
	var pts []time.Duration
	for {
		f, err := src.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pts = append(pts, f.PTS)
		f.Mat.Close()
	}
	if len(pts) != 10 {
		t.Fatalf("%d frames, want 10", len(pts))
	}
	if span, least := pts[9]-pts[0], 9*time.Second/50; span < least-5*time.Millisecond {
		t.Errorf("10 frames at 50 fps came over %v, want at least %v (played in real time)", span, least)
	}
}

// TestLiveCameraMissing: a camera index with no device is an error at
// once, wrapping ErrNoCamera, from the /dev check and from OpenCV itself.
func TestLiveCameraMissing(t *testing.T) {
	if _, err := os.Stat("/dev/video99"); err == nil {
		t.Skipf("this machine has a /dev/video99")
	}
	for _, idx := range []int{99, -1} {
		c, err := OpenCamera(idx, 0)
		if !errors.Is(err, ErrNoCamera) || !strings.Contains(err.Error(), fmt.Sprintf("camera %d", idx)) {
			t.Errorf("OpenCamera(%d): %v, want an error naming it and wrapping ErrNoCamera", idx, err)
		}
		if c != nil {
			c.Close()
		}
	}
	c, err := openCameraCV(99, 20*time.Second)
	if !errors.Is(err, ErrNoCamera) {
		t.Errorf("OpenCV open of camera 99: %v, want ErrNoCamera", err)
	}
	if c != nil {
		c.Close()
	}
}

func TestLiveRedact(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://user:secret@cam.local:554/s": "rtsp://user:xxxxx@cam.local:554/s",
		"rtsp://cam.local/s":                 "rtsp://cam.local/s",
		"http://user@cam.local/s":            "http://user@cam.local/s",
		"clip.mp4":                           "clip.mp4",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if !IsStreamURL("udp://127.0.0.1:5000") || IsStreamURL("clips/a.mp4") {
		t.Error("IsStreamURL")
	}
}

// ---- segments ----------------------------------------------------------------
