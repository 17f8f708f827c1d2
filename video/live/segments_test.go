package live

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
)

// liveFakeEncoder records what a segment was given.
type liveFakeEncoder struct {
	path     string
	fps      float64
	frames   []uint8         // pixel (0,0) of each frame written
	pts      []time.Duration // and its time in the file
	closed   bool
	aborted  bool
	failFrom int // Write fails from this frame on (0: never)
}

func (e *liveFakeEncoder) WriteAt(img gocv.Mat, pts time.Duration) error {
	if e.failFrom > 0 && len(e.frames)+1 >= e.failFrom {
		return errors.New("disk full")
	}
	e.frames = append(e.frames, img.GetUCharAt(0, 0))
	e.pts = append(e.pts, pts)
	return nil
}
func (e *liveFakeEncoder) Close() error { e.closed = true; return nil }
func (e *liveFakeEncoder) Abort()       { e.aborted = true }

// recordingOpen opens a fake encoder for each segment and appends it to
// encs, under mu.
func recordingOpen(mu *sync.Mutex, encs *[]*liveFakeEncoder) func(string, int, int, float64) (FrameEncoder, error) {
	return func(path string, w, h int, fps float64) (FrameEncoder, error) {
		mu.Lock()
		defer mu.Unlock()
		e := &liveFakeEncoder{path: path, fps: fps}
		*encs = append(*encs, e)
		return e, nil
	}
}

// TestLiveSegmentsCutAndPlace: segments are cut every Length of capture
// time and at gaps, named by their start time (UTC, sortable, never
// colliding); every frame is written once, at its capture time from the
// segment's start, whatever the nominal rate (it was placed on a grid of
// the rate: repeated over short pauses, left out when it came early).
func TestLiveSegmentsCutAndPlace(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 25, 22, 10, 0, 0, time.UTC)
	var mu sync.Mutex
	var encs []*liveFakeEncoder
	sink, err := NewSegmentSink(SegmentOptions{
		Dir: dir, Length: time.Second, Gap: 500 * time.Millisecond, Start: start,
		FPS:  func() float64 { return 10 },
		Open: recordingOpen(&mu, &encs),
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
		0, 100 * ms, 140 * ms, // 140: sooner than the rate's 100 ms
		400 * ms,  // after a pause
		1000 * ms, // segment 2
		1100 * ms,
		2000 * ms, // 900 ms pause > Gap: segment 3 (name taken: _1)
		2100 * ms, 2200 * ms,
	}
	for i, pts := range frames {
		m := tmpl.Clone()
		m.SetUCharAt(0, 0, uint8(i))
		if err := sink.Write(video.Frame{Index: i, PTS: pts, Mat: m}, video.FrameResult{}); err != nil {
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
		pts    []time.Duration
	}{
		{"2026-11-25T22-10-00.000Z.mp4", []uint8{0, 1, 2, 3}, []time.Duration{0, 100 * ms, 140 * ms, 400 * ms}},
		{"2026-11-25T22-10-01.000Z.mp4", []uint8{4, 5}, []time.Duration{0, 100 * ms}},
		{"2026-11-25T22-10-02.000Z_1.mp4", []uint8{6, 7, 8}, []time.Duration{0, 100 * ms, 200 * ms}},
	}
	if len(encs) != len(want) {
		t.Fatalf("%d segments, want %d", len(encs), len(want))
	}
	for i, w := range want {
		e := encs[i]
		if filepath.Base(e.path) != w.name || !slices.Equal(e.frames, w.frames) || !slices.Equal(e.pts, w.pts) || !e.closed || e.fps != 10 {
			t.Errorf("segment %d: %s frames %v at %v closed %v fps %g; want %s frames %v at %v, closed, 10 fps",
				i, filepath.Base(e.path), e.frames, e.pts, e.closed, e.fps, w.name, w.frames, w.pts)
		}
	}
	if st := sink.Stats(); st.Segments != 3 || st.Frames != int64(len(frames)) || st.InFiles != 9 || st.SegmentErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	if data, _ := os.ReadFile(taken); string(data) != "other" {
		t.Error("an existing file was replaced")
	}
}

// TestLiveSegmentErrorGoesOn: a segment whose encoder fails is aborted,
// counted and logged; the next segment is written.
func TestLiveSegmentErrorGoesOn(t *testing.T) {
	var log testenv.LogBuffer
	var encs []*liveFakeEncoder
	sink, err := NewSegmentSink(SegmentOptions{
		Dir: t.TempDir(), Length: time.Second, FPS: func() float64 { return 10 }, Log: log.Logger(),
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
		sink.Write(video.Frame{Index: i, PTS: time.Duration(i) * 100 * time.Millisecond, Mat: tmpl.Clone()}, video.FrameResult{})
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
		Encode: ffmpeg.EncodeOptions{Codec: "libx264", Preset: "ultrafast"}, JPEGEvery: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := liveTemplate(64, 48)
	defer tmpl.Close()
	for i := range 40 { // 4 s at 10 fps: segments of 15, 15 and 10 frames
		if err := sink.Write(video.Frame{Index: i, PTS: time.Duration(i) * 100 * time.Millisecond, Mat: tmpl.Clone()}, video.FrameResult{}); err != nil {
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

// TestLiveSegmentEndsWhenFramesStop: when frames stop coming (the source
// went away), the open segment is finalised after Idle without waiting for
// the next frame, and the frames that come later start a new one. (It
// stayed a temporary file through a 15.7 s outage, until the stream came
// back.)
func TestLiveSegmentEndsWhenFramesStop(t *testing.T) {
	var mu sync.Mutex
	var encs []*liveFakeEncoder
	sink, err := NewSegmentSink(SegmentOptions{
		Dir: t.TempDir(), Idle: 200 * time.Millisecond, FPS: func() float64 { return 10 },
		Open: recordingOpen(&mu, &encs),
	})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := liveTemplate(16, 12)
	defer tmpl.Close()
	for i := range 3 {
		sink.Write(video.Frame{Index: i, PTS: time.Duration(i) * 100 * time.Millisecond, Mat: tmpl.Clone()}, video.FrameResult{})
	}
	testenv.WaitFor(t, 10*time.Second, "the segment to be finalised while no frame comes", func() bool {
		return sink.Stats().Segments == 1
	}, nil)
	// The source is back: a new segment.
	sink.Write(video.Frame{Index: 3, PTS: 20 * time.Second, Mat: tmpl.Clone()}, video.FrameResult{})
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(encs) != 2 || sink.Stats().Segments != 2 {
		t.Errorf("%d segments opened, %d written; want 2 and 2", len(encs), sink.Stats().Segments)
	}
}
