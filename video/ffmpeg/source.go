package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/video"
)

// Source decodes a video file's frames with an ffmpeg process. It
// implements video.Source: each Frame's Mat belongs to the caller, who
// closes it or hands it back with Recycle.
// Frames come upright (rotation applied) at the display size, in
// presentation order, one per frame of the file (none dropped or
// repeated), each with its presentation time (PTS) in the file.
//
// A file that ends early or that the decoder reports errors in makes Read
// return an error wrapping ErrCorrupt instead of io.EOF, so a truncated
// file never passes for a complete one.
type Source struct {
	ctx    context.Context
	info   VideoInfo
	pool   *matPool
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *stderrTail
	size   int // bytes per frame
	// yuv receives each I420 frame from the pipe before its conversion to
	// BGR (nil when frames come as BGR).
	yuv *gocv.Mat
	// pts brings each frame's time from the decoder's listing (readPTS),
	// read from ptsPipe until done is closed.
	pts     chan time.Duration
	ptsPipe *os.File
	done    chan struct{}
	last    time.Duration // the latest frame's time
	next    int
	err     error // sticky: io.EOF or the error that ended the stream
	closed  bool
}

// Open starts decoding the video file that info describes (from
// Probe). Cancelling ctx kills the decoder. The caller closes the source.
func Open(ctx context.Context, info VideoInfo) (*Source, error) {
	ffmpeg, err := lookFFmpeg("ffmpeg")
	if err != nil {
		return nil, err
	}
	w, h := info.DisplayWidth, info.DisplayHeight
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("decode %s: no frame size", info.Path)
	}
	pixFmt, size := rawFormat(w, h)
	tb := info.TimeBase
	if !tb.Valid() {
		tb = Rational{1, 90000}
	}
	// Every frame passes as it is (-fps_mode passthrough), timed in the
	// input's own time base: in the default one, of the average rate,
	// frames of a faster part of a file whose rate changes (15 then 60
	// fps) would share timestamps, and the muxer's complaints about them
	// would read as decoding errors. Those, which say a file is damaged,
	// stay errors (finish). A frame whose time is not after the one
	// before (a remuxed file's duplicate or backward times) is moved one
	// tick after it (monotonic), as the encoder does: the muxers refuse it
	// otherwise. The decoded frames are split (after the rotation, done
	// once) into the raw frames and their times (ptsArgs).
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-i", info.Path,
		"-filter_complex", "[0:v:0]" + monotonic + ",split=2[v][t]", "-an", "-sn", "-dn"}
	cmd := exec.CommandContext(ctx, ffmpeg, append(args, ptsArgs(pixFmt, tb)...)...)
	s := &Source{ctx: ctx, info: info, cmd: cmd, pool: newMatPool(h, w, 8), stderr: &stderrTail{}, size: size}
	if err := s.start(); err != nil {
		return nil, fmt.Errorf("decode %s: %w", info.Path, err)
	}
	if rawI420(w, h) {
		m := gocv.NewMatWithSize(h*3/2, w, gocv.MatTypeCV8UC1)
		s.yuv = &m
	}
	return s, nil
}

// monotonic is the filter that keeps frame times increasing: a time not
// after the last one becomes the last one plus a tick; a frame without a
// time keeps none (framePTS gives it one).
const monotonic = "setpts='if(isnan(PTS)+isnan(PREV_OUTPTS)+gt(PTS,PREV_OUTPTS),PTS,PREV_OUTPTS+1)'"

// start starts the decoder with its frames on stdout and their times on
// fd 3, read by readPTS.
func (s *Source) start() error {
	s.cmd.Stderr = s.stderr
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return err
	}
	s.cmd.ExtraFiles = []*os.File{pw} // fd 3
	err = s.cmd.Start()
	pw.Close() // ffmpeg holds its own copy
	if err != nil {
		pr.Close()
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	growPipe(out)
	s.out, s.ptsPipe = out, pr
	s.pts, s.done = make(chan time.Duration, 64), make(chan struct{})
	go readPTS(pr, s.pts, s.done)
	return nil
}

// matPool keeps frame Mats for reuse: a new Mat of a frame's size costs
// more than copying the frame into it (gocv zeroes it, the kernel maps its
// pages). It holds no more than its capacity; Close closes what it holds.
type matPool struct {
	rows, cols int
	mu         sync.Mutex
	free       []gocv.Mat
	closed     bool
}

func newMatPool(rows, cols, capacity int) *matPool {
	return &matPool{rows: rows, cols: cols, free: make([]gocv.Mat, 0, capacity)}
}

// get returns a Mat of the pool's size (contents undefined).
func (p *matPool) get() gocv.Mat {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		m := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return m
	}
	p.mu.Unlock()
	return gocv.NewMatWithSize(p.rows, p.cols, gocv.MatTypeCV8UC3)
}

// put takes m back, or closes it (wrong size, pool full or closed).
func (p *matPool) put(m gocv.Mat) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.free) == cap(p.free) || m.Rows() != p.rows || m.Cols() != p.cols ||
		m.Type() != gocv.MatTypeCV8UC3 || !m.IsContinuous() {
		_ = m.Close()
		return
	}
	p.free = append(p.free, m)
}

func (p *matPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, m := range p.free {
		_ = m.Close()
	}
	p.free = nil
}

// Info describes the video being decoded.
func (s *Source) Info() VideoInfo { return s.info }

// Read returns the next frame, io.EOF after the last one, or an error.
func (s *Source) Read() (video.Frame, error) {
	if s.err != nil {
		return video.Frame{}, s.err
	}
	if s.closed {
		return video.Frame{}, fmt.Errorf("decode %s: source closed", s.info.Path)
	}
	m := s.pool.get()
	into := m
	if s.yuv != nil {
		into = *s.yuv
	}
	buf, err := into.DataPtrUint8()
	if err == nil && len(buf) != s.size {
		err = fmt.Errorf("frame buffer is %d bytes, want %d", len(buf), s.size)
	}
	if err != nil {
		m.Close()
		s.err = fmt.Errorf("decode %s: %w", s.info.Path, err)
		return video.Frame{}, s.err
	}
	// Straight into the Mat's memory: one copy from the pipe, none after
	// (but the conversion from I420).
	n, err := io.ReadFull(s.out, buf)
	if err != nil {
		m.Close()
		if n > 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: the last frame is incomplete", ErrCorrupt)
		} else if errors.Is(err, io.EOF) {
			err = nil
		}
		s.err = s.finish(err)
		return video.Frame{}, s.err
	}
	if s.yuv != nil {
		gocv.CvtColor(*s.yuv, &m, gocv.ColorYUVToBGRIYUV) // IYUV is I420
	}
	pts, err := s.framePTS()
	if err != nil {
		m.Close()
		_ = s.cmd.Process.Kill()
		s.err = s.finish(err)
		return video.Frame{}, s.err
	}
	f := video.Frame{Index: s.next, PTS: pts, Mat: m}
	s.next++
	return f, nil
}

// framePTS is the time of the frame just read, from the decoder's
// listing; one the decoder did not know comes a frame of the average
// rate after the one before.
func (s *Source) framePTS() (time.Duration, error) {
	pts, ok := <-s.pts
	if !ok {
		return 0, errNoPTS(s.next)
	}
	if pts == unknownPTS {
		pts = 0
		if r := s.info.FrameRate; s.next > 0 && r.Valid() {
			pts = s.last + ticks(int64(r.Den), Rational{1, r.Num})
		}
	}
	s.last = pts
	return pts, nil
}

// finish waits for the decoder after its output ended and says how the
// stream ended: io.EOF when every frame came, else an error.
func (s *Source) finish(readErr error) error {
	werr := s.cmd.Wait()
	s.closed = true
	msg := lastLines(s.stderr.String(), 3)
	switch {
	case s.ctx.Err() != nil: // the decoder was killed
		return fmt.Errorf("decode %s: %w", s.info.Path, s.ctx.Err())
	case readErr != nil:
		return fmt.Errorf("decode %s: %w", s.info.Path, readErr)
	case werr != nil:
		if msg == "" {
			msg = werr.Error()
		}
		return fmt.Errorf("decode %s: %w: %s", s.info.Path, ErrCorrupt, msg)
	case msg != "":
		// ffmpeg exits 0 after "partial file" and decoding errors.
		return fmt.Errorf("decode %s: %w: %s", s.info.Path, ErrCorrupt, msg)
	case s.next == 0:
		return fmt.Errorf("decode %s: %w: no frames", s.info.Path, ErrCorrupt)
	case s.info.Frames > 0 && s.next < s.info.Frames:
		return fmt.Errorf("decode %s: %w: %d of %d frames", s.info.Path, ErrCorrupt, s.next, s.info.Frames)
	}
	return io.EOF
}

// Frames is how many frames Read has returned.
func (s *Source) Frames() int { return s.next }

// Recycle takes back the Mat of a frame this source returned, once its
// owner is done with it, for a later frame to reuse (or closes it). It is
// safe from any goroutine, also after Close; m must not be used after.
func (s *Source) Recycle(m gocv.Mat) { s.pool.put(m) }

// Close stops the decoder (if it still runs). It is safe on nil and safe
// to call more than once, but not during a Read.
func (s *Source) Close() error {
	if s == nil {
		return nil
	}
	s.pool.close()
	if s.yuv != nil {
		s.yuv.Close()
		s.yuv = nil
	}
	if s.done != nil {
		close(s.done) // readPTS stops
		s.done = nil
	}
	if !s.closed {
		s.closed = true
		if s.err == nil {
			s.err = fmt.Errorf("decode %s: source closed", s.info.Path)
		}
		_ = s.cmd.Process.Kill()
		_ = s.out.Close()
		_ = s.cmd.Wait()
	}
	if s.ptsPipe != nil {
		_ = s.ptsPipe.Close()
		s.ptsPipe = nil
	}
	return nil
}
