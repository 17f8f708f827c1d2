package ffmpeg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// EncodeOptions choose how video is encoded (through ffmpeg).
type EncodeOptions struct {
	// Codec is an ffmpeg video encoder (libx264 by default; mpeg4 where
	// H.264 is missing).
	Codec  string
	Preset string // encoder speed preset (x264: ultrafast ... veryslow)
	CRF    int    // quality, 0-51, lower is better (0: encoder default)
	// AudioFrom, when set, is a file whose audio track is copied into the
	// output without re-encoding.
	AudioFrom string
}

// Encoder writes frames into a video file with an ffmpeg process. The file
// appears under its name only when Close succeeds: until then ffmpeg
// writes a hidden temporary file beside it (.NAME.tmp-*), which Abort, or a
// failed Close, removes. Frames must be 8-bit BGR of the size given;
// Write and WriteAt copy them, and the caller keeps ownership of each Mat. Close or
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
	// rate is the nominal frame rate (Write's spacing); tick is one unit
	// of the output's time base, rounded up.
	rate Rational
	tick time.Duration
	// first and last are the times given for the first and the latest
	// frame; buf holds the Matroska head of each frame.
	first, last time.Duration
	buf         []byte
	// origin, when hasOrigin, is the time the video starts at (encodeSpec).
	origin    time.Duration
	hasOrigin bool
}

// NewEncoder starts encoding a w x h video into path, with o's codec,
// preset and quality, copying the audio of o.AudioFrom when set. Frames
// written with Write follow each other at fps frames per second; WriteAt
// places each at its own time (the last one lasting 1/fps). The codec
// falls back to one the container takes (webm: VP9, avi: MPEG-4), and to
// MPEG-4 when ffmpeg lacks it.
func NewEncoder(path string, w, h int, fps float64, o EncodeOptions) (*Encoder, error) {
	r := RationalOf(fps)
	if !r.Valid() {
		return nil, fmt.Errorf("encode %s: frame rate %g is not positive", path, fps)
	}
	return newEncoder(context.Background(), path, encodeSpec{w: w, h: h, rate: r}, o)
}

// NewEncoderFor starts encoding a video like the one info describes (from
// Probe) into path: its display size, its frame rate and time base (frames
// written with WriteAt keep their times exactly), and, when o.AudioFrom is
// set, the offset of its video from the start of its audio. Cancelling ctx
// kills the encoder.
func NewEncoderFor(ctx context.Context, path string, info VideoInfo, o EncodeOptions) (*Encoder, error) {
	return newEncoder(ctx, path, encodeSpec{
		w: info.DisplayWidth, h: info.DisplayHeight, rate: info.FrameRate,
		timeBase: info.TimeBase, offset: info.StartOffset, origin: info.VideoStart, hasOrigin: true,
		formatStart: info.VideoStart - info.StartOffset,
	}, o)
}

// encodeSpec is the video an Encoder writes.
type encodeSpec struct {
	w, h int
	// rate is the nominal frame rate: Write's spacing, the last frame's
	// length, and the time base when timeBase is not valid.
	rate     Rational
	timeBase Rational // of the output (seconds per tick)
	// offset of the video from the start of the audio of o.AudioFrom.
	offset time.Duration
	// origin (when hasOrigin) is the time WriteAt's pts count the video
	// from: its stream's start. Without one, the first frame written
	// starts the video.
	origin    time.Duration
	hasOrigin bool
	// formatStart is the source file's start time (its earliest stream's).
	formatStart time.Duration
}

// outTimeBase is the time base of the output: sp.timeBase, else a fine one
// (at least 90 kHz) holding every frame of sp.rate in a whole number of
// ticks.
func (sp encodeSpec) outTimeBase() Rational {
	if sp.timeBase.Valid() {
		return sp.timeBase
	}
	k := (90000 + sp.rate.Num - 1) / sp.rate.Num
	return Rational{1, k * sp.rate.Num}
}

// newEncoder starts the encoder of sp into path.
func newEncoder(ctx context.Context, path string, sp encodeSpec, o EncodeOptions) (*Encoder, error) {
	ffmpeg, err := lookFFmpeg("ffmpeg")
	if err != nil {
		return nil, err
	}
	w, h := sp.w, sp.h
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("encode %s: frame size %dx%d", path, w, h)
	}
	if !sp.rate.Valid() {
		return nil, fmt.Errorf("encode %s: frame rate %s is not positive", path, sp.rate)
	}
	codec, codecArgs, err := encoderArgs(ffmpeg, path, w, h, o)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", path, err)
	}
	tmp, err := createTemp(path)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", path, err)
	}
	tb := sp.outTimeBase()
	args := ffmpegArgs(path, tmp, tb, o, sp, codecArgs)

	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	e := &Encoder{path: path, tmp: tmp, w: w, h: h, cmd: cmd, stderr: &stderrTail{}, codec: codec,
		rate: sp.rate, tick: durationUp(int64(tb.Num), tb.Den), origin: sp.origin, hasOrigin: sp.hasOrigin}
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
	if _, err := pw.Write(mkvHeader(w, h, mkvFourCC(w, h), nominalPTS(1, sp.rate))); err != nil {
		e.kill()
		return nil, fmt.Errorf("encode %s: start ffmpeg: %w", path, err)
	}
	if rawI420(w, h) {
		m := gocv.NewMatWithSize(h*3/2, w, gocv.MatTypeCV8UC1)
		e.yuv = &m
	}
	return e, nil
}

// createTemp creates the empty temporary file, hidden beside path (its
// folder made if need be), that the encoder writes before it is moved into
// place, and returns its name.
func createTemp(path string) (string, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "."+strings.TrimSuffix(base, filepath.Ext(base))+".tmp-*"+filepath.Ext(base))
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	f.Close()
	return tmp, nil
}

// ffmpegArgs is the ffmpeg command line that encodes the timed raw frames
// of a Matroska stream on its stdin into tmp (for path) with codecArgs,
// in the time base tb, the audio of o.AudioFrom copied in.
//
// With the video's origin known (sp.hasOrigin, a file), timestamps are
// kept as given (-copyts): the stream's first frame is at its own time
// from the origin, not moved to 0, so frames dropped at the start do not
// pull the picture ahead of the sound. The audio, read from the source
// file, is then moved by the file's start time (formatStart) to start
// where the video's origin is measured from.
func ffmpegArgs(path, tmp string, tb Rational, o EncodeOptions, sp encodeSpec, codecArgs []string) []string {
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-y"}
	if sp.hasOrigin {
		args = append(args, "-copyts")
	}
	if sp.offset > 0 && o.AudioFrom != "" { // keep the video where it was against the audio
		args = append(args, "-itsoffset", seconds6(sp.offset))
	}
	args = append(args, "-f", "matroska", "-i", "pipe:0")
	if o.AudioFrom != "" {
		if sp.hasOrigin && sp.formatStart != 0 {
			args = append(args, "-itsoffset", seconds6(-sp.formatStart))
		}
		args = append(args, "-i", o.AudioFrom, "-map", "0:v", "-map", "1:a?", "-c:a", "copy")
	}
	// One frame out for each frame in, at its own time: no frame repeated
	// to fill a gap (before the first, when the video starts after its
	// audio, or where frames are missing), none dropped, none moved to a
	// constant rate's grid.
	args = append(args, "-fps_mode", "passthrough", "-enc_time_base:v", tb.String())
	args = append(args, codecArgs...)
	// Nothing of the source's metadata but its timing (and, by frames
	// decoded upright, its rotation) is carried over: no title, date or
	// place, no chapters.
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1")
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".mp4" || ext == ".mov" || ext == ".m4v" {
		args = append(args, "-movflags", "+faststart")
	}
	args = append(args, tmp)
	return args
}

// seconds6 is d in seconds, as ffmpeg options take it.
func seconds6(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 6, 64) }

// Codec is the ffmpeg encoder in use (after any fallback).
func (e *Encoder) Codec() string { return e.codec }

// Frames is how many frames were written.
func (e *Encoder) Frames() int { return e.frames }

// Write encodes one frame, 1/fps after the one before (at the nominal
// rate). img must be w x h, 8-bit BGR; it is not closed.
func (e *Encoder) Write(img gocv.Mat) error {
	return e.WriteAt(img, e.first+nominalPTS(e.frames, e.rate))
}

// nominalPTS is the time of frame n at rate r: from the frame count, not
// a sum of rounded frame lengths, so a long video stays on the rate's
// grid to the nanosecond (33 366 667 ns a frame at 29.97 fps was 33 µs
// off after an hour, three ticks of 90 kHz).
func nominalPTS(n int, r Rational) time.Duration {
	return ticks(int64(n)*int64(r.Den), Rational{1, r.Num})
}

// WriteAt encodes one frame at pts: the first frame written starts the
// video, each later one comes pts after it, less the first's pts. A pts
// not after the latest frame's is moved one tick of the output's time base
// after it (the frame is kept). img must be w x h, 8-bit BGR; it is not
// closed.
func (e *Encoder) WriteAt(img gocv.Mat, pts time.Duration) error {
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
		e.buf, err = writeMKVFrame(e.in, e.buf, e.place(pts), data)
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

// place is the time in the stream of the next frame, given at pts: from
// the video's origin (else the first frame's), and after the latest
// frame's.
func (e *Encoder) place(pts time.Duration) time.Duration {
	if e.frames == 0 {
		// From the stream's start, when known: frames dropped before the
		// first one written leave their time empty, so the picture stays
		// with the sound. (A first frame before the start starts it.)
		e.first, e.last = pts, pts
		if e.hasOrigin && e.origin <= pts {
			e.first = e.origin
		}
		return pts - e.first
	}
	if pts <= e.last {
		pts = e.last + e.tick
	}
	e.last = pts
	return pts - e.first
}

// durationUp is num/den seconds, rounded up to the nanosecond.
func durationUp(num int64, den int) time.Duration {
	return time.Duration((num*int64(time.Second) + int64(den) - 1) / int64(den))
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
	codec, err := chooseCodec(ffmpeg, path, o.Codec)
	if err != nil {
		return "", nil, err
	}
	return codec, codecOptions(codec, path, w, h, o), nil
}

// chooseCodec is the encoder for path: codec (default libx264) if its
// container takes it, else the container's default; when ffmpeg lacks it,
// mpeg4 (libvpx for WebM).
func chooseCodec(ffmpeg, path, codec string) (string, error) {
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
		return "", err
	}
	if !have[codec] {
		fallback := "mpeg4"
		if strings.EqualFold(filepath.Ext(path), ".webm") {
			fallback = "libvpx"
		}
		if !have[fallback] {
			return "", fmt.Errorf("ffmpeg has neither encoder %s nor %s", codec, fallback)
		}
		codec = fallback
	}
	return codec, nil
}

// codecOptions are ffmpeg's options for encoding w x h frames into path
// with codec.
func codecOptions(codec, path string, w, h int, o EncodeOptions) []string {
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
	return args
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

// ErrNoEncoder means ffmpeg has no video encoder of the name asked for.
var ErrNoEncoder = errors.New("ffmpeg has no such video encoder")

// wellKnownEncoders are named first when an encoder is missing.
var wellKnownEncoders = []string{"libx264", "libx265", "libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1", "mpeg4", "libxvid", "mjpeg"}

// CheckEncoder asks ffmpeg (once per binary: `ffmpeg -hide_banner
// -encoders`) whether it has the video encoder codec. An encoder it lacks
// is an error wrapping ErrNoEncoder that names a few it has; without
// ffmpeg, the error wraps ErrNotInstalled.
func CheckEncoder(codec string) error {
	ffmpeg, err := lookFFmpeg("ffmpeg")
	if err != nil {
		return err
	}
	have, err := ffmpegEncoders(ffmpeg)
	if err != nil {
		return err
	}
	if have[codec] {
		return nil
	}
	var some []string
	for _, c := range wellKnownEncoders {
		if have[c] {
			some = append(some, c)
		}
	}
	if len(some) < 6 { // a build without the usual ones: name what it has
		rest := make([]string, 0, len(have))
		for c := range have {
			if !slices.Contains(some, c) {
				rest = append(rest, c)
			}
		}
		slices.Sort(rest)
		some = append(some, rest[:min(len(rest), 6-len(some))]...)
	}
	return fmt.Errorf("%w %q; it has %s, ... (ffmpeg -encoders lists them all)", ErrNoEncoder, codec, strings.Join(some, ", "))
}
