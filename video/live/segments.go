package live

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/imageio"
)

// FrameEncoder writes one video file; *ffmpeg.Encoder is one. WriteAt
// adds a frame at its time from the file's first frame (times only grow).
// Close finalises the file (it appears under its name only then,
// playable); Abort discards it.
type FrameEncoder interface {
	WriteAt(img gocv.Mat, pts time.Duration) error
	Close() error
	Abort()
}

// SegmentTimeFormat names segment files and JPEG frames by their start time
// (UTC): sortable, and free of characters some file systems refuse.
const SegmentTimeFormat = "2006-01-02T15-04-05.000Z"

// SegmentOptions configure a SegmentSink.
type SegmentOptions struct {
	// Dir receives the segment files (NAME.mp4) and, with JPEGEvery, the
	// JPEG frames (Dir/frames/NAME_INDEX.jpg).
	Dir string
	// Length is each segment's length in capture time (default 1 min).
	Length time.Duration
	// Gap: when no frame came for longer than this (a lost stream, frames
	// dropped after detector errors), the segment ends and the next frame
	// starts a new one, so a file never spans a hole (default 2 s).
	Gap time.Duration
	// Idle: when no frame has been written for this long (wall time: the
	// source stopped or went away), the open segment is finalised without
	// waiting for the next frame, so it plays while the source is down
	// (default: Gap, at least 2 s).
	Idle time.Duration
	// FPS gives the nominal frame rate of a new segment (nil, or 0
	// returned: 25): the length of its last frame, and its time base. Each
	// frame is written at its capture time (its PTS), none repeated or left
	// out, so a file holds every frame written and plays in real time
	// (frame count and duration those of the source) whatever the capture
	// and detection rates, also before the rate is measured.
	FPS func() float64
	// Start is the wall-clock time of PTS 0; it names the files.
	Start time.Time
	// Extension of the segment files (default ".mp4").
	Extension string
	// Encode is how segments are encoded (through ffmpeg.NewEncoder).
	Encode ffmpeg.EncodeOptions
	// Open opens one segment's encoder; nil means ffmpeg.NewEncoder with Encode.
	Open func(path string, w, h int, fps float64) (FrameEncoder, error)
	// JPEGEvery also writes every JPEGEvery-th frame (the first included)
	// as a JPEG (0: none), at JPEGQuality (default 90).
	JPEGEvery   int
	JPEGQuality int
	// Preview, when set, is shown every frame written.
	Preview *Preview
	Log     *slog.Logger
}

// SegmentStats count what a SegmentSink did so far.
type SegmentStats struct {
	Frames        int64 // frames given to Write
	HiddenWhole   int64 // of those, hidden whole after a detector failure
	InFiles       int64 // frames the finalised segment files hold
	Segments      int64 // segment files finalised
	SegmentErrors int64 // segments that could not be written (lost)
	JPEGs         int64 // JPEG frames written
	JPEGErrors    int64 // JPEG frames that could not be written
}

// SegmentSink is a video.Sink that cuts the anonymized frames into video files of
// SegmentOptions.Length, each named by the capture time of its first frame,
// optionally writes every Nth frame as a JPEG, and feeds a Preview.
//
// A segment is written through a FrameEncoder, which shows the file under
// its name only once it is finalised: segments are finalised in the
// background as the next one starts, and Close finalises the open one (so
// an interrupted run leaves a playable last segment). A segment that
// cannot be written is logged, counted and abandoned; the next segment is
// tried at the next boundary, so one bad file does not stop a live run.
//
// Write is called from one goroutine (RunPipeline's writer); it owns and
// closes each frame's Mat. An idle timer finalises the open segment when
// frames stop coming (Idle).
type SegmentSink struct {
	o   SegmentOptions
	log *slog.Logger

	mu       sync.Mutex // cur, between Write, Close and the idle timer
	cur      *segment
	idle     *time.Timer
	lastWall time.Time // when the last frame was written
	closing  sync.WaitGroup

	namesMu sync.Mutex
	names   map[string]bool // paths of segments being written or finalised

	frames, hiddenWhole, inFiles, segments, segmentErrors, jpegs, jpegErrors atomic.Int64
}

// segment is the file being written.
type segment struct {
	enc    FrameEncoder // nil when it could not be opened or failed
	path   string
	start  time.Duration // PTS of its first frame
	last   time.Duration // PTS of the latest frame
	w, h   int
	fps    float64 // nominal rate
	n      int     // frames in the file
	failed bool
}

// NewSegmentSink checks o and makes Dir.
func NewSegmentSink(o SegmentOptions) (*SegmentSink, error) {
	if o.Dir == "" {
		return nil, errors.New("segments: no output folder")
	}
	if o.Length <= 0 {
		o.Length = time.Minute
	}
	if o.Gap <= 0 {
		o.Gap = 2 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = max(o.Gap, 2*time.Second)
	}
	if o.Extension == "" {
		o.Extension = ".mp4"
	}
	if o.JPEGQuality <= 0 {
		o.JPEGQuality = 90
	}
	if o.JPEGEvery < 0 {
		return nil, fmt.Errorf("segments: jpeg every %d: negative", o.JPEGEvery)
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Open == nil {
		enc := o.Encode
		o.Open = func(path string, w, h int, fps float64) (FrameEncoder, error) {
			e, err := ffmpeg.NewEncoder(path, w, h, fps, enc)
			if err != nil {
				return nil, err
			}
			return e, nil
		}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	return &SegmentSink{o: o, log: o.Log, names: map[string]bool{}}, nil
}

// Stats returns the counts so far.
func (s *SegmentSink) Stats() SegmentStats {
	return SegmentStats{
		Frames: s.frames.Load(), HiddenWhole: s.hiddenWhole.Load(), InFiles: s.inFiles.Load(),
		Segments: s.segments.Load(), SegmentErrors: s.segmentErrors.Load(),
		JPEGs: s.jpegs.Load(), JPEGErrors: s.jpegErrors.Load(),
	}
}

// Write adds a frame to the open segment (starting one as needed), and to
// the JPEG frames and the preview. It closes f.Mat. It returns no error: a
// failed segment or JPEG is logged and counted, and the run goes on.
func (s *SegmentSink) Write(f video.Frame, r video.FrameResult) error {
	defer f.Mat.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.armIdle()
	n := s.frames.Add(1)
	if r.HiddenWhole {
		s.hiddenWhole.Add(1)
	}
	if f.Mat.Empty() {
		return nil
	}
	w, h := f.Mat.Cols(), f.Mat.Rows()
	if c := s.cur; c != nil {
		switch {
		case f.PTS-c.start >= s.o.Length:
			s.finish()
		case f.PTS-c.last > s.o.Gap:
			s.log.Info("gap in the frames: segment ends early", "file", c.path, "gap", (f.PTS - c.last).Round(time.Millisecond))
			s.finish()
		case w != c.w || h != c.h:
			s.log.Info("frame size changed: segment ends early", "file", c.path, "from", fmt.Sprintf("%dx%d", c.w, c.h), "to", fmt.Sprintf("%dx%d", w, h))
			s.finish()
		}
	}
	if s.cur == nil {
		s.begin(f.PTS, w, h)
	}
	s.place(s.cur, f)
	s.cur.last = f.PTS
	if s.o.JPEGEvery > 0 && (n-1)%int64(s.o.JPEGEvery) == 0 {
		s.writeJPEG(f)
	}
	s.o.Preview.Publish(f.Mat)
	return nil
}

// Close finalises the open segment and waits for every segment being
// finalised. It returns an error when a segment could not be written.
func (s *SegmentSink) Close() error {
	s.mu.Lock()
	if s.idle != nil {
		s.idle.Stop()
	}
	s.finish()
	s.mu.Unlock()
	s.closing.Wait()
	if n := s.segmentErrors.Load(); n > 0 {
		return fmt.Errorf("segments: %d could not be written", n)
	}
	return nil
}

// armIdle (re)starts the idle timer after a frame (s.mu held).
func (s *SegmentSink) armIdle() {
	s.lastWall = time.Now()
	if s.idle == nil {
		s.idle = time.AfterFunc(s.o.Idle, s.onIdle)
		return
	}
	s.idle.Reset(s.o.Idle)
}

// onIdle finalises the open segment when no frame came for Idle.
func (s *SegmentSink) onIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || time.Since(s.lastWall) < s.o.Idle {
		return
	}
	s.log.Info("no frames: segment ends", "file", s.cur.path, "after", s.o.Idle)
	s.finish()
}

// begin starts a segment at the frame at pts.
func (s *SegmentSink) begin(pts time.Duration, w, h int) {
	fps := 0.0
	if s.o.FPS != nil {
		fps = s.o.FPS()
	}
	if !(fps >= 1 && fps <= 240) {
		fps = 25
	}
	c := &segment{start: pts, last: pts, w: w, h: h, fps: fps}
	s.cur = c
	c.path = s.name(pts)
	enc, err := s.o.Open(c.path, w, h, fps)
	if err != nil {
		c.failed = true
		s.release(c.path)
		s.segmentErrors.Add(1)
		s.log.Error("segment not started; frames until the next segment are not recorded", "file", c.path, "err", err)
		return
	}
	c.enc = enc
}

// name is a free path for a segment starting at pts.
func (s *SegmentSink) name(pts time.Duration) string {
	base := s.o.Start.Add(pts).UTC().Format(SegmentTimeFormat)
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	for i := 0; ; i++ {
		p := filepath.Join(s.o.Dir, base+s.o.Extension)
		if i > 0 {
			p = filepath.Join(s.o.Dir, fmt.Sprintf("%s_%d%s", base, i, s.o.Extension))
		}
		if s.names[p] {
			continue // a segment still being written
		}
		if _, err := os.Lstat(p); err == nil {
			continue // never replace a file, ours from an earlier run or not
		}
		s.names[p] = true
		return p
	}
}

// release gives back a segment name once its file is finalised or given up.
func (s *SegmentSink) release(path string) {
	s.namesMu.Lock()
	delete(s.names, path)
	s.namesMu.Unlock()
}

// place writes f into c at its capture time.
func (s *SegmentSink) place(c *segment, f video.Frame) {
	if c.failed {
		return
	}
	if err := c.enc.WriteAt(f.Mat, f.PTS-c.start); err != nil {
		c.enc.Abort()
		c.enc = nil
		c.failed = true
		s.release(c.path)
		s.segmentErrors.Add(1)
		s.log.Error("segment lost; frames until the next segment are not recorded", "file", c.path, "err", err)
		return
	}
	c.n++
}

// finish ends the open segment, finalising it in the background.
func (s *SegmentSink) finish() {
	c := s.cur
	s.cur = nil
	if c == nil || c.failed {
		return
	}
	s.closing.Add(1)
	go func() {
		defer s.closing.Done()
		err := c.enc.Close()
		s.release(c.path) // finalised, the file holds the name; else it is free again
		if err != nil {
			s.segmentErrors.Add(1)
			s.log.Error("segment not finalised", "file", c.path, "err", err)
			return
		}
		s.segments.Add(1)
		s.inFiles.Add(int64(c.n))
		secs := (c.last - c.start).Seconds() + 1/c.fps
		s.log.Info("segment written", "file", c.path, "frames", c.n, "seconds", math.Round(secs*10)/10)
	}()
}

// writeJPEG writes f as Dir/frames/TIME_INDEX.jpg.
func (s *SegmentSink) writeJPEG(f video.Frame) {
	name := fmt.Sprintf("%s_%06d.jpg", s.o.Start.Add(f.PTS).UTC().Format(SegmentTimeFormat), f.Index)
	p := filepath.Join(s.o.Dir, "frames", name)
	data, err := imageio.Encode(f.Mat, ".jpg", s.o.JPEGQuality)
	if err == nil {
		err = fsutil.WriteFileAtomic(p, data, 0o644)
	}
	if err != nil {
		s.jpegErrors.Add(1)
		s.log.Error("JPEG frame not written", "file", p, "err", err)
		return
	}
	s.jpegs.Add(1)
}
