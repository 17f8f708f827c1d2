package video

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
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

// liveLog is a logger whose output can be read while it is written.
type liveLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *liveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *liveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *liveLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// countSink closes every frame and counts them.
type countSink struct {
	mu      sync.Mutex
	indexes []int
}

func (s *countSink) Write(f Frame, _ FrameResult) error {
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
	src := StartLive(ctx, cam, nil, LiveOptions{Name: "fake camera", Queue: 2})
	det := &liveGatedDetector{gate: make(chan struct{})}
	sink := &countSink{}
	type result struct {
		st  PipelineStats
		err error
	}
	res := make(chan result, 1)
	go func() {
		st, err := RunPipeline(ctx, src, det, sink, PipelineOptions{Workers: 2, Queue: 2})
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
	var log liveLog
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
	src := StartLive(ctx, nil, open, LiveOptions{
		Name: "rtsp://user:secret@127.0.0.1:1/cam", Queue: 100,
		ReconnectMin: time.Millisecond, ReconnectMax: 4 * time.Millisecond, Log: log.logger(),
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
	src := StartLive(t.Context(), cam, nil, LiveOptions{Queue: 100, RealTime: true})
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

// liveFakeEncoder records what a segment was given.
type liveFakeEncoder struct {
	path     string
	fps      float64
	frames   []uint8 // pixel (0,0) of each frame written
	closed   bool
	aborted  bool
	failFrom int // Write fails from this frame on (0: never)
}

func (e *liveFakeEncoder) Write(img gocv.Mat) error {
	if e.failFrom > 0 && len(e.frames)+1 >= e.failFrom {
		return errors.New("disk full")
	}
	e.frames = append(e.frames, img.GetUCharAt(0, 0))
	return nil
}
func (e *liveFakeEncoder) Close() error { e.closed = true; return nil }
func (e *liveFakeEncoder) Abort()       { e.aborted = true }

// TestLiveSegmentsCutAndPlace: segments are cut every Length of capture
// time and at gaps, named by their start time (UTC, sortable, never
// colliding); frames are placed by time, duplicated over short pauses and
// left out when they come faster than the file's rate.
func TestLiveSegmentsCutAndPlace(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 25, 22, 10, 0, 0, time.UTC)
	var mu sync.Mutex
	var encs []*liveFakeEncoder
	sink, err := NewSegmentSink(SegmentOptions{
		Dir: dir, Length: time.Second, Gap: 500 * time.Millisecond, Start: start,
		FPS: func() float64 { return 10 },
		Open: func(path string, w, h int, fps float64) (FrameEncoder, error) {
			mu.Lock()
			defer mu.Unlock()
			e := &liveFakeEncoder{path: path, fps: fps}
			encs = append(encs, e)
			return e, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A file already there is never replaced.
	taken := filepath.Join(dir, "2026-11-25T22-10-02.000Z.mp4")
	if err := os.WriteFile(taken, []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl := liveTemplate(16, 12)
	defer tmpl.Close()
	ms := time.Millisecond
	frames := []time.Duration{
		0, 100 * ms, 140 * ms, // 140: early for slot 1, left out
		400 * ms,  // slots 2-4 filled by this frame
		1000 * ms, // segment 2
		1100 * ms, // slot 1
		2000 * ms, // 900 ms pause > Gap: segment 3 (name taken: _1)
		2100 * ms, 2200 * ms,
	}
	for i, pts := range frames {
		m := tmpl.Clone()
		m.SetUCharAt(0, 0, uint8(i))
		if err := sink.Write(Frame{Index: i, PTS: pts, Mat: m}, FrameResult{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		name   string
		frames []uint8
	}{
		{"2026-11-25T22-10-00.000Z.mp4", []uint8{0, 1, 3, 3, 3}},
		{"2026-11-25T22-10-01.000Z.mp4", []uint8{4, 5}},
		{"2026-11-25T22-10-02.000Z_1.mp4", []uint8{6, 7, 8}},
	}
	if len(encs) != len(want) {
		t.Fatalf("%d segments, want %d", len(encs), len(want))
	}
	for i, w := range want {
		e := encs[i]
		if filepath.Base(e.path) != w.name || !slices.Equal(e.frames, w.frames) || !e.closed || e.fps != 10 {
			t.Errorf("segment %d: %s frames %v closed %v fps %g; want %s frames %v, closed, 10 fps",
				i, filepath.Base(e.path), e.frames, e.closed, e.fps, w.name, w.frames)
		}
	}
	if st := sink.Stats(); st.Segments != 3 || st.Frames != int64(len(frames)) || st.SegmentErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	if data, _ := os.ReadFile(taken); string(data) != "other" {
		t.Error("an existing file was replaced")
	}
}

// TestLiveSegmentErrorGoesOn: a segment whose encoder fails is aborted,
// counted and logged; the next segment is written.
func TestLiveSegmentErrorGoesOn(t *testing.T) {
	var log liveLog
	var encs []*liveFakeEncoder
	sink, err := NewSegmentSink(SegmentOptions{
		Dir: t.TempDir(), Length: time.Second, FPS: func() float64 { return 10 }, Log: log.logger(),
		Open: func(path string, w, h int, fps float64) (FrameEncoder, error) {
			e := &liveFakeEncoder{path: path}
			if len(encs) == 0 {
				e.failFrom = 3
			}
			encs = append(encs, e)
			return e, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := liveTemplate(16, 12)
	defer tmpl.Close()
	for i := range 20 {
		sink.Write(Frame{Index: i, PTS: time.Duration(i) * 100 * time.Millisecond, Mat: tmpl.Clone()}, FrameResult{})
	}
	err = sink.Close()
	if err == nil {
		t.Error("Close: no error after a lost segment")
	}
	if len(encs) != 2 || !encs[0].aborted || encs[0].closed || !encs[1].closed || len(encs[1].frames) != 10 {
		t.Fatalf("encoders: %+v %+v", encs[0], encs[len(encs)-1])
	}
	if st := sink.Stats(); st.SegmentErrors != 1 || st.Segments != 1 {
		t.Errorf("stats %+v, want 1 segment and 1 error", st)
	}
	if !strings.Contains(log.String(), "segment lost") {
		t.Errorf("log:\n%s", log.String())
	}
}

// ffprobeFrames counts the decodable video frames of a file.
func ffprobeFrames(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe %s: %q", path, out)
	}
	return n
}

// TestLiveSegmentsPlayable writes real segments through NewEncoder: each is
// a complete, playable file once the sink is closed (the open one
// included), and every 10th frame is a JPEG beside them.
func TestLiveSegmentsPlayable(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skipf("ffprobe not installed: %v", err)
	}
	dir := t.TempDir()
	sink, err := NewSegmentSink(SegmentOptions{
		Dir: dir, Length: 1500 * time.Millisecond, FPS: func() float64 { return 10 },
		Encode: EncodeOptions{Codec: "libx264", Preset: "ultrafast"}, JPEGEvery: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := liveTemplate(64, 48)
	defer tmpl.Close()
	for i := range 40 { // 4 s at 10 fps: segments of 15, 15 and 10 frames
		if err := sink.Write(Frame{Index: i, PTS: time.Duration(i) * 100 * time.Millisecond, Mat: tmpl.Clone()}, FrameResult{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
	if len(segs) != 3 {
		ents, _ := os.ReadDir(dir)
		t.Fatalf("segments %v, want 3 (folder: %v)", segs, ents)
	}
	for i, want := range []int{15, 15, 10} {
		if n := ffprobeFrames(t, segs[i]); n != want {
			t.Errorf("%s: %d frames, want %d", segs[i], n, want)
		}
	}
	jpegs, _ := filepath.Glob(filepath.Join(dir, "frames", "*.jpg"))
	if len(jpegs) != 4 {
		t.Errorf("JPEG frames %v, want 4", jpegs)
	}
	for _, p := range jpegs {
		m := gocv.IMRead(p, gocv.IMReadColor)
		if m.Empty() {
			t.Errorf("%s does not decode", p)
		}
		m.Close()
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !e.IsDir() && (filepath.Ext(e.Name()) != ".mp4" || strings.HasPrefix(e.Name(), ".")) {
			t.Errorf("left in the output folder: %s", e.Name())
		}
	}
}

// ---- preview -----------------------------------------------------------------

// TestLivePreview: the preview binds loopback when no host is named, serves
// the frames it is given as multipart JPEG parts, and ends its streams
// when closed.
func TestLivePreview(t *testing.T) {
	p, err := StartPreview(":0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if host, _, _ := net.SplitHostPort(p.Addr()); host != "127.0.0.1" {
		t.Errorf("preview listens on %s, want loopback", p.Addr())
	}
	page, err := http.Get("http://" + p.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(body), PreviewPath) {
		t.Errorf("page does not show the stream:\n%s", body)
	}

	resp, err := http.Get("http://" + p.Addr() + PreviewPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	parts := make(chan []byte)
	go func() {
		defer close(parts)
		mr := multipart.NewReader(bufio.NewReader(resp.Body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				return
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return
			}
			parts <- data
		}
	}()
	// Publish like a live stream until the viewer has a frame.
	green := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 200, 0, 0), 48, 64, gocv.MatTypeCV8UC3)
	defer green.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	var got []byte
	for got == nil {
		select {
		case got = <-parts:
		case <-tick.C:
			p.Publish(green)
		case <-deadline:
			t.Fatal("no frame served within 10 s")
		}
	}
	img, err := gocv.IMDecode(got, gocv.IMReadColor)
	if err != nil {
		t.Fatal(err)
	}
	px := [3]uint8{img.GetUCharAt(24, 32*3), img.GetUCharAt(24, 32*3+1), img.GetUCharAt(24, 32*3+2)}
	img.Close()
	if d := int(px[1]) - 200; px[0] > 10 || px[2] > 10 || d < -10 || d > 10 {
		t.Errorf("served pixel %v, want the green published (0, 200, 0)", px)
	}
	p.Close()
	for range parts { // the stream ends
	}
}
