package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/video"
)

// Source decodes a video file's frames with an ffmpeg process. It
// implements video.Source: each Frame's Mat belongs to the caller, who
// closes it or hands it back with Recycle.
// Frames come upright (rotation applied) at the display size, in decoding
// order, one per frame of the file (none dropped or repeated).
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
	yuv    *gocv.Mat
	next   int
	err    error // sticky: io.EOF or the error that ended the stream
	closed bool
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
	// Every frame passes as it is (-fps_mode passthrough), timed in the
	// input's own time base (-enc_time_base -1): in the default one, of
	// the average rate, frames of a faster part of a file whose rate
	// changes (15 then 60 fps) share timestamps, and the muxer's complaints
	// about them would read as decoding errors. Those, which say a file is
	// damaged, stay errors (finish).
	cmd := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-hide_banner", "-v", "error",
		"-i", info.Path, "-map", "0:v:0", "-an", "-sn", "-dn",
		"-fps_mode", "passthrough", "-enc_time_base:v", "-1", "-f", "rawvideo", "-pix_fmt", pixFmt, "pipe:1")
	s := &Source{ctx: ctx, info: info, cmd: cmd, pool: newMatPool(h, w, 8), stderr: &stderrTail{}, size: size}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", info.Path, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("decode %s: start ffmpeg: %w", info.Path, err)
	}
	growPipe(out)
	s.out = out
	if rawI420(w, h) {
		m := gocv.NewMatWithSize(h*3/2, w, gocv.MatTypeCV8UC1)
		s.yuv = &m
	}
	return s, nil
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
	f := video.Frame{Index: s.next, Mat: m}
	if r := s.info.FrameRate; r.Valid() {
		f.PTS = time.Duration(int64(s.next) * int64(time.Second) * int64(r.Den) / int64(r.Num))
	}
	s.next++
	return f, nil
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
	if s.closed {
		return nil
	}
	s.closed = true
	if s.err == nil {
		s.err = fmt.Errorf("decode %s: source closed", s.info.Path)
	}
	_ = s.cmd.Process.Kill()
	_ = s.out.Close()
	_ = s.cmd.Wait()
	return nil
}
