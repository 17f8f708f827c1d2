package video

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gocv.io/x/gocv"
)

// Video files are decoded and encoded by ffmpeg processes, frames passing
// through pipes raw: ffmpeg reads every container and codec it was
// built with, applies the rotation of phone videos while decoding, encodes
// with x264's fast presets (OpenCV's VideoWriter only runs x264 at its slow
// default), and copies the audio track in the same step.
//
// Frames of even width and height pass as planar YUV 4:2:0 (I420), which
// OpenCV converts to and from BGR here: half the bytes of BGR through each
// pipe, and OpenCV's conversions cost less than ffmpeg's swscale ones, which
// then have nothing left to do. Odd sizes, which 4:2:0 cannot hold, pass as
// BGR.

// rawI420 reports whether w x h frames pass through the pipes as I420.
func rawI420(w, h int) bool { return w%2 == 0 && h%2 == 0 }

// rawFormat is the ffmpeg pixel format and the bytes of a w x h raw frame.
func rawFormat(w, h int) (string, int) {
	if rawI420(w, h) {
		return "yuv420p", w * h * 3 / 2
	}
	return "bgr24", w * h * 3
}

// ErrNoFFmpeg means ffmpeg or ffprobe is not installed (not in PATH).
var ErrNoFFmpeg = errors.New("ffmpeg is not installed (videos need ffmpeg and ffprobe in PATH)")

// ErrCorrupt means a video file is truncated or damaged: its decoder
// reported errors, or it ended before its last frame.
var ErrCorrupt = errors.New("truncated or corrupt video")

func lookFFmpeg(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoFFmpeg, err)
	}
	return p, nil
}

// Rational is a frame rate as ffmpeg keeps it, e.g. 30000/1001.
type Rational struct{ Num, Den int }

// Valid reports whether r is a positive, finite rate.
func (r Rational) Valid() bool { return r.Num > 0 && r.Den > 0 }

// Float is r as a number (0 when r is not valid).
func (r Rational) Float() float64 {
	if !r.Valid() {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// String is "Num/Den", which ffmpeg's -r takes exactly.
func (r Rational) String() string { return fmt.Sprintf("%d/%d", r.Num, r.Den) }

// ParseRational reads "30000/1001" or "25".
func ParseRational(s string) (Rational, error) {
	n, d, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		d = "1"
	}
	num, err1 := strconv.Atoi(n)
	den, err2 := strconv.Atoi(d)
	if err1 != nil || err2 != nil {
		return Rational{}, fmt.Errorf("frame rate %q: not a number or a ratio", s)
	}
	r := Rational{num, den}
	if !r.Valid() {
		return Rational{}, fmt.Errorf("frame rate %q: not positive", s)
	}
	return r, nil
}

// RationalOf approximates f: NTSC rates (24000/1001, 30000/1001, ...) and
// whole or millesimal rates come out exact.
func RationalOf(f float64) Rational {
	if !(f > 0) || math.IsInf(f, 0) {
		return Rational{}
	}
	// 29.97 and 29.97002997 both mean 30000/1001.
	if n := math.Round(f*1.001) * 1000; n > 0 && math.Abs(n/1001-f) < 5e-4 {
		return Rational{int(n), 1001}
	}
	return Rational{int(math.Round(f * 1000)), 1000}.reduce()
}

func (r Rational) reduce() Rational {
	a, b := r.Num, r.Den
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return r
	}
	return Rational{r.Num / a, r.Den / a}
}

// VideoInfo describes a video file's first video stream (from ffprobe).
type VideoInfo struct {
	Path  string `json:"-"`
	Codec string `json:"codec"`
	// Width and Height are the frame size as stored.
	Width  int `json:"-"`
	Height int `json:"-"`
	// Rotation is how far stored frames turn clockwise for display: 0, 90,
	// 180 or 270 (a phone held upright records 90).
	Rotation int `json:"rotation,omitempty"`
	// DisplayWidth and DisplayHeight are the size shown (Width and Height
	// swapped for 90 and 270); decoded frames come at this size, upright.
	DisplayWidth  int `json:"width"`
	DisplayHeight int `json:"height"`
	// FrameRate is the average rate (frames over duration), or the
	// stream's base rate when the average is not known.
	FrameRate Rational `json:"-"`
	// Frames is the number of frames (from the container's index, or
	// counted packet by packet where the container has no count).
	Frames int `json:"frames"`
	// Duration of the video stream (or of the file when the stream's is
	// not known).
	Duration time.Duration `json:"-"`
	// StartOffset is how far the video stream starts after the earliest
	// stream of the file (usually 0).
	StartOffset time.Duration `json:"-"`
	HasAudio    bool          `json:"audio"`
	AudioCodec  string        `json:"audio_codec,omitempty"`
}

type probeJSON struct {
	Streams []struct {
		Index         int               `json:"index"`
		CodecType     string            `json:"codec_type"`
		CodecName     string            `json:"codec_name"`
		Width         int               `json:"width"`
		Height        int               `json:"height"`
		RFrameRate    string            `json:"r_frame_rate"`
		AvgFrameRate  string            `json:"avg_frame_rate"`
		NbFrames      string            `json:"nb_frames"`
		NbReadPackets string            `json:"nb_read_packets"`
		Duration      string            `json:"duration"`
		StartTime     string            `json:"start_time"`
		Tags          map[string]string `json:"tags"`
		Disposition   map[string]int    `json:"disposition"`
		SideData      []struct {
			Type     string  `json:"side_data_type"`
			Rotation float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		StartTime  string `json:"start_time"`
	} `json:"format"`
}

// Probe reads what the video pipeline needs to know about a video file.
// A file ffprobe cannot read, or one without a video stream, is an error
// naming the file.
func Probe(ctx context.Context, path string) (VideoInfo, error) {
	ffprobe, err := lookFFmpeg("ffprobe")
	if err != nil {
		return VideoInfo{}, err
	}
	out, err := runProbe(ctx, ffprobe, "-show_streams", "-show_format", path)
	if err != nil {
		return VideoInfo{}, fmt.Errorf("probe %s: %w", path, err)
	}
	var pj probeJSON
	if err := json.Unmarshal(out, &pj); err != nil {
		return VideoInfo{}, fmt.Errorf("probe %s: %w", path, err)
	}
	info := VideoInfo{Path: path}
	vi := -1
	for i, s := range pj.Streams {
		switch s.CodecType {
		case "video":
			// Cover art in an audio file is a "video" stream of one picture.
			if vi < 0 && s.Disposition["attached_pic"] == 0 {
				vi = i
			}
		case "audio":
			if !info.HasAudio {
				info.HasAudio, info.AudioCodec = true, s.CodecName
			}
		}
	}
	if vi < 0 {
		return VideoInfo{}, fmt.Errorf("probe %s: %w: no video stream", path, ErrCorrupt)
	}
	s := pj.Streams[vi]
	info.Codec, info.Width, info.Height = s.CodecName, s.Width, s.Height
	if info.Width <= 0 || info.Height <= 0 {
		return VideoInfo{}, fmt.Errorf("probe %s: %w: video stream has no frame size", path, ErrCorrupt)
	}
	rot := 0.0
	if r, ok := s.Tags["rotate"]; ok { // older ffprobe: degrees clockwise
		if v, err := strconv.ParseFloat(r, 64); err == nil {
			rot = v
		}
	}
	for _, sd := range s.SideData {
		if sd.Type == "Display Matrix" { // degrees counter-clockwise
			rot = -sd.Rotation
		}
	}
	info.Rotation = ((int(math.Round(rot/90))%4 + 4) % 4) * 90
	info.DisplayWidth, info.DisplayHeight = info.Width, info.Height
	if info.Rotation == 90 || info.Rotation == 270 {
		info.DisplayWidth, info.DisplayHeight = info.Height, info.Width
	}

	info.Duration = seconds(s.Duration)
	if info.Duration == 0 {
		info.Duration = matroskaDuration(s.Tags["DURATION"])
	}
	if info.Duration == 0 {
		info.Duration = seconds(pj.Format.Duration)
	}
	if st, fst := seconds(s.StartTime), seconds(pj.Format.StartTime); st > fst {
		info.StartOffset = st - fst
	}
	// MP4 and QuickTime index every frame; Matroska and WebM keep no
	// count, and AVI's header may count a frame more than there is.
	if strings.Contains(pj.Format.FormatName, "mp4") {
		info.Frames, _ = strconv.Atoi(s.NbFrames)
	}
	if info.Frames <= 0 {
		out, err := runProbe(ctx, ffprobe, "-count_packets", "-select_streams", strconv.Itoa(s.Index), "-show_entries", "stream=nb_read_packets", path)
		if err != nil {
			return VideoInfo{}, fmt.Errorf("probe %s: count frames: %w", path, err)
		}
		var pc probeJSON
		if err := json.Unmarshal(out, &pc); err == nil && len(pc.Streams) > 0 {
			info.Frames, _ = strconv.Atoi(pc.Streams[0].NbReadPackets)
		}
	}
	avg, errAvg := ParseRational(s.AvgFrameRate)
	base, errBase := ParseRational(s.RFrameRate)
	switch {
	case errAvg == nil && avg.Float() <= 1000:
		info.FrameRate = avg
	case errBase == nil && base.Float() <= 1000:
		info.FrameRate = base
	case info.Frames > 0 && info.Duration > 0:
		info.FrameRate = RationalOf(float64(info.Frames) / info.Duration.Seconds())
	default:
		return VideoInfo{}, fmt.Errorf("probe %s: %w: no frame rate", path, ErrCorrupt)
	}
	return info, nil
}

func runProbe(ctx context.Context, ffprobe string, args ...string) ([]byte, error) {
	args = append([]string{"-v", "error", "-print_format", "json"}, args...)
	cmd := exec.CommandContext(ctx, ffprobe, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if msg := lastLines(stderr.String(), 3); msg != "" {
			return nil, fmt.Errorf("%w: %s", ErrCorrupt, msg)
		}
		return nil, err
	}
	return out, nil
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// matroskaDuration reads Matroska's "HH:MM:SS.nnnnnnnnn" stream tag.
func matroskaDuration(s string) time.Duration {
	var h, m int
	var sec float64
	if _, err := fmt.Sscanf(s, "%d:%d:%f", &h, &m, &sec); err != nil {
		return 0
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second))
}

// stderrTail keeps the end of a process's stderr.
type stderrTail struct {
	mu  sync.Mutex
	buf []byte
}

const stderrKeep = 8 << 10

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*stderrKeep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-stderrKeep:]...)
	}
	return len(p), nil
}

func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lastLines is the last n non-empty lines of s, joined by "; ".
func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// FFmpegSource decodes a video file's frames with an ffmpeg process. It
// implements Source: each Frame's Mat belongs to the caller, who closes it
// or hands it back with Recycle.
// Frames come upright (rotation applied) at the display size, in decoding
// order, one per frame of the file (none dropped or repeated).
//
// A file that ends early or that the decoder reports errors in makes Read
// return an error wrapping ErrCorrupt instead of io.EOF, so a truncated
// file never passes for a complete one.
type FFmpegSource struct {
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

// OpenVideo starts decoding the video file that info describes (from
// Probe). Cancelling ctx kills the decoder. The caller closes the source.
func OpenVideo(ctx context.Context, info VideoInfo) (*FFmpegSource, error) {
	ffmpeg, err := lookFFmpeg("ffmpeg")
	if err != nil {
		return nil, err
	}
	w, h := info.DisplayWidth, info.DisplayHeight
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("decode %s: no frame size", info.Path)
	}
	pixFmt, size := rawFormat(w, h)
	cmd := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-hide_banner", "-v", "error",
		"-i", info.Path, "-map", "0:v:0", "-an", "-sn", "-dn",
		"-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", pixFmt, "pipe:1")
	s := &FFmpegSource{ctx: ctx, info: info, cmd: cmd, pool: newMatPool(h, w, 8), stderr: &stderrTail{}, size: size}
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

// pipeSize is the pipe buffer asked for (Linux's default is 64 KiB, a
// 1080p frame 6 MiB: fewer, larger transfers cost less).
const pipeSize = 1 << 20

// growPipe enlarges a pipe's buffer where the system allows it.
func growPipe(p any) {
	sc, ok := p.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		const fSetPipeSz = 1031 // F_SETPIPE_SZ
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, pipeSize)
	})
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
func (s *FFmpegSource) Info() VideoInfo { return s.info }

// Read returns the next frame, io.EOF after the last one, or an error.
func (s *FFmpegSource) Read() (Frame, error) {
	if s.err != nil {
		return Frame{}, s.err
	}
	if s.closed {
		return Frame{}, fmt.Errorf("decode %s: source closed", s.info.Path)
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
		return Frame{}, s.err
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
		return Frame{}, s.err
	}
	if s.yuv != nil {
		gocv.CvtColor(*s.yuv, &m, gocv.ColorYUVToBGRIYUV) // IYUV is I420
	}
	f := Frame{Index: s.next, Mat: m}
	if r := s.info.FrameRate; r.Valid() {
		f.PTS = time.Duration(int64(s.next) * int64(time.Second) * int64(r.Den) / int64(r.Num))
	}
	s.next++
	return f, nil
}

// finish waits for the decoder after its output ended and says how the
// stream ended: io.EOF when every frame came, else an error.
func (s *FFmpegSource) finish(readErr error) error {
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
func (s *FFmpegSource) Frames() int { return s.next }

// Recycle takes back the Mat of a frame this source returned, once its
// owner is done with it, for a later frame to reuse (or closes it). It is
// safe from any goroutine, also after Close; m must not be used after.
func (s *FFmpegSource) Recycle(m gocv.Mat) { s.pool.put(m) }

// Close stops the decoder (if it still runs). It is safe on nil and safe
// to call more than once, but not during a Read.
func (s *FFmpegSource) Close() error {
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

// Encoder writes frames into a video file with an ffmpeg process. The file
// appears under its name only when Close succeeds: until then ffmpeg
// writes a hidden temporary file beside it (.NAME.tmp-*), which Abort, or a
// failed Close, removes. Frames must be 8-bit BGR of the size given;
// Write copies them, and the caller keeps ownership of each Mat. Close or
// Abort releases the Encoder's own memory: one of them must be called.
//
// An Encoder is used by one goroutine at a time.
type Encoder struct {
	path, tmp string
	w, h      int
	cmd       *exec.Cmd
	in        io.WriteCloser
	stderr    *stderrTail
	// yuv holds each frame converted to I420 for the pipe (nil when
	// frames go as BGR).
	yuv    *gocv.Mat
	frames int
	codec  string
	done   bool
	err    error // sticky
}

// NewEncoder starts encoding a w x h video at fps frames per second into
// path, with o's codec, preset and quality, copying the audio of
// o.AudioFrom when set. The codec falls back to one the container takes
// (webm: VP9, avi: MPEG-4), and to MPEG-4 when ffmpeg lacks it.
func NewEncoder(path string, w, h int, fps float64, o EncodeOptions) (*Encoder, error) {
	r := RationalOf(fps)
	if !r.Valid() {
		return nil, fmt.Errorf("encode %s: frame rate %g is not positive", path, fps)
	}
	return newEncoder(context.Background(), path, w, h, r, o, 0)
}

// newEncoder is NewEncoder with an exact rate, and the offset of the video
// from the start of the audio of o.AudioFrom.
func newEncoder(ctx context.Context, path string, w, h int, rate Rational, o EncodeOptions, videoOffset time.Duration) (*Encoder, error) {
	ffmpeg, err := lookFFmpeg("ffmpeg")
	if err != nil {
		return nil, err
	}
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("encode %s: frame size %dx%d", path, w, h)
	}
	codec, codecArgs, err := encoderArgs(ffmpeg, path, w, h, o)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", path, err)
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("encode %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+strings.TrimSuffix(base, filepath.Ext(base))+".tmp-*"+filepath.Ext(base))
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()

	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-y"}
	if videoOffset > 0 && o.AudioFrom != "" { // keep the video where it was against the audio
		args = append(args, "-itsoffset", strconv.FormatFloat(videoOffset.Seconds(), 'f', 6, 64))
	}
	pixFmt, _ := rawFormat(w, h)
	args = append(args, "-f", "rawvideo", "-pix_fmt", pixFmt, "-s", fmt.Sprintf("%dx%d", w, h),
		"-framerate", rate.String(), "-i", "pipe:0")
	if o.AudioFrom != "" {
		args = append(args, "-i", o.AudioFrom, "-map", "0:v", "-map", "1:a?", "-c:a", "copy")
	}
	// One frame out for each frame in: no frame repeated to fill a gap
	// before the first (a video starting after its audio), none dropped.
	args = append(args, "-fps_mode", "passthrough")
	args = append(args, codecArgs...)
	// Nothing of the source's metadata but its timing (and, by frames
	// decoded upright, its rotation) is carried over: no title, date or
	// place, no chapters.
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1")
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".mp4" || ext == ".mov" || ext == ".m4v" {
		args = append(args, "-movflags", "+faststart")
	}
	args = append(args, tmp)

	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	e := &Encoder{path: path, tmp: tmp, w: w, h: h, cmd: cmd, stderr: &stderrTail{}, codec: codec}
	cmd.Stderr = e.stderr
	// A pipe of our own rather than StdinPipe's, whose buffer cannot be
	// enlarged.
	pr, pw, err := os.Pipe()
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("encode %s: %w", path, err)
	}
	cmd.Stdin = pr
	err = cmd.Start()
	pr.Close() // ffmpeg holds its own copy
	if err != nil {
		pw.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("encode %s: start ffmpeg: %w", path, err)
	}
	growPipe(pw)
	e.in = pw
	if rawI420(w, h) {
		m := gocv.NewMatWithSize(h*3/2, w, gocv.MatTypeCV8UC1)
		e.yuv = &m
	}
	return e, nil
}

// Codec is the ffmpeg encoder in use (after any fallback).
func (e *Encoder) Codec() string { return e.codec }

// Frames is how many frames were written.
func (e *Encoder) Frames() int { return e.frames }

// Write encodes one frame. img must be w x h, 8-bit BGR; it is not closed.
func (e *Encoder) Write(img gocv.Mat) error {
	if e.err != nil {
		return e.err
	}
	if e.done {
		return fmt.Errorf("encode %s: encoder closed", e.path)
	}
	if img.Cols() != e.w || img.Rows() != e.h || img.Type() != gocv.MatTypeCV8UC3 {
		return fmt.Errorf("encode %s: frame %d is %dx%d type %v, want %dx%d 8-bit BGR", e.path, e.frames, img.Cols(), img.Rows(), img.Type(), e.w, e.h)
	}
	var data []byte
	var err error
	switch {
	case e.yuv != nil:
		gocv.CvtColor(img, e.yuv, gocv.ColorBGRToYUVI420)
		data, err = e.yuv.DataPtrUint8()
	case img.IsContinuous():
		data, err = img.DataPtrUint8() // a view: no copy before the pipe
	default:
		data = img.ToBytes()
	}
	if err == nil {
		_, err = e.in.Write(data)
	}
	if err != nil {
		// ffmpeg has gone: its stderr says why.
		e.kill()
		msg := lastLines(e.stderr.String(), 3)
		if msg == "" {
			msg = err.Error()
		}
		e.err = fmt.Errorf("encode %s: frame %d: %s", e.path, e.frames, msg)
		return e.err
	}
	e.frames++
	return nil
}

// Close finishes the file and moves it into place. On error nothing is
// left at path or beside it. Safe to call more than once, and after Abort.
func (e *Encoder) Close() error {
	if e == nil {
		return nil
	}
	if e.done {
		return e.err
	}
	e.done = true
	e.free()
	if e.err != nil {
		os.Remove(e.tmp)
		return e.err
	}
	if e.frames == 0 {
		e.kill()
		e.err = fmt.Errorf("encode %s: no frames written", e.path)
		return e.err
	}
	cerr := e.in.Close()
	werr := e.cmd.Wait()
	fail := func(err error) error {
		os.Remove(e.tmp)
		e.err = fmt.Errorf("encode %s: %w", e.path, err)
		return e.err
	}
	if werr != nil || cerr != nil {
		msg := lastLines(e.stderr.String(), 3)
		if msg == "" {
			msg = errors.Join(werr, cerr).Error()
		}
		return fail(errors.New(msg))
	}
	if err := syncFile(e.tmp); err != nil {
		return fail(err)
	}
	if err := os.Chmod(e.tmp, 0o644); err != nil {
		return fail(err)
	}
	if err := os.Rename(e.tmp, e.path); err != nil {
		return fail(err)
	}
	return nil
}

// Abort stops ffmpeg and removes what it wrote. Safe to call more than
// once, and after Close (a closed file stays).
func (e *Encoder) Abort() {
	if e == nil || e.done {
		return
	}
	e.done = true
	e.free()
	e.kill()
	if e.err == nil {
		e.err = fmt.Errorf("encode %s: aborted", e.path)
	}
}

// free releases the frame buffer (once Close or Abort ends the Encoder).
func (e *Encoder) free() {
	if e.yuv != nil {
		e.yuv.Close()
		e.yuv = nil
	}
}

// kill ends ffmpeg and removes the temporary file.
func (e *Encoder) kill() {
	if e.cmd.ProcessState == nil {
		_ = e.cmd.Process.Kill()
		_ = e.in.Close()
		_ = e.cmd.Wait()
	}
	os.Remove(e.tmp)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Codecs each container takes, the first being its default; containers
// not listed take any encoder.
var containerCodecs = map[string][]string{
	".webm": {"libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1"},
	".avi":  {"mpeg4", "libxvid", "mjpeg"},
}

// encoderArgs chooses the encoder for path and its ffmpeg options.
func encoderArgs(ffmpeg, path string, w, h int, o EncodeOptions) (string, []string, error) {
	codec := o.Codec
	if codec == "" {
		codec = "libx264"
	}
	if allowed, ok := containerCodecs[strings.ToLower(filepath.Ext(path))]; ok {
		if !slices.Contains(allowed, codec) {
			codec = allowed[0]
		}
	}
	have, err := ffmpegEncoders(ffmpeg)
	if err != nil {
		return "", nil, err
	}
	if !have[codec] {
		fallback := "mpeg4"
		if strings.EqualFold(filepath.Ext(path), ".webm") {
			fallback = "libvpx"
		}
		if !have[fallback] {
			return "", nil, fmt.Errorf("ffmpeg has neither encoder %s nor %s", codec, fallback)
		}
		codec = fallback
	}
	args := []string{"-c:v", codec}
	odd := w%2 != 0 || h%2 != 0
	crf := o.CRF
	switch codec {
	case "libx264", "libx265":
		if o.Preset != "" {
			args = append(args, "-preset", o.Preset)
		}
		if crf > 0 {
			args = append(args, "-crf", strconv.Itoa(crf))
		}
		// 4:2:0 needs even sides; 4:4:4 keeps an odd size exact.
		pf := "yuv420p"
		if odd {
			pf = "yuv444p"
		}
		args = append(args, "-pix_fmt", pf)
		if codec == "libx265" {
			args = append(args, "-tag:v", "hvc1", "-x265-params", "log-level=error")
		}
	case "libvpx-vp9", "libvpx":
		// Realtime speed; VP9's quality scale is 0-63 where x264's is 0-51.
		if crf <= 0 {
			crf = 23
		}
		q := min(63, max(4, crf*63/51))
		args = append(args, "-deadline", "realtime", "-cpu-used", "8", "-crf", strconv.Itoa(q), "-pix_fmt", "yuv420p")
		if codec == "libvpx-vp9" {
			args = append(args, "-row-mt", "1", "-b:v", "0")
		} else {
			args = append(args, "-b:v", "8M")
		}
	case "mpeg4", "libxvid":
		// MPEG-4 part 2 has no CRF: a fixed quantiser 2-31.
		q := 4
		if crf > 0 {
			q = min(31, max(2, crf/5))
		}
		args = append(args, "-q:v", strconv.Itoa(q), "-pix_fmt", "yuv420p")
		if strings.EqualFold(filepath.Ext(path), ".avi") && codec == "mpeg4" {
			args = append(args, "-tag:v", "FMP4")
		}
	case "mjpeg":
		args = append(args, "-q:v", "3", "-pix_fmt", "yuvj420p")
	default:
		if crf > 0 {
			args = append(args, "-crf", strconv.Itoa(crf))
		}
		if o.Preset != "" {
			args = append(args, "-preset", o.Preset)
		}
	}
	return codec, args, nil
}

var encoderCache sync.Map // ffmpeg path -> map[string]bool

// ffmpegEncoders lists the encoders an ffmpeg binary has.
func ffmpegEncoders(ffmpeg string) (map[string]bool, error) {
	if v, ok := encoderCache.Load(ffmpeg); ok {
		return v.(map[string]bool), nil
	}
	out, err := exec.Command(ffmpeg, "-hide_banner", "-encoders").Output()
	if err != nil {
		return nil, fmt.Errorf("list ffmpeg encoders: %w", err)
	}
	have := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && len(f[0]) == 6 && f[0][0] == 'V' {
			have[f[1]] = true
		}
	}
	encoderCache.Store(ffmpeg, have)
	return have, nil
}
