package video

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// The video tests make their clips with ffmpeg (testsrc2 pictures, a sine
// tone) in a temporary folder, run them through AnonymizeFile with the
// real yunet-n-dynamic, and check the outputs with ffprobe.

// needFFmpeg fails the test when ffmpeg or ffprobe is missing: videos are
// part of the product, not optional hardware.
func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not installed (apt-get install ffmpeg): %v", b, err)
		}
	}
}

// ffmpegRun runs ffmpeg with args, failing the test on an error.
func ffmpegRun(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-hide_banner", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Metadata every test clip carries, none of which may reach an output.
var clipMetadata = []string{
	"-metadata", "title=Secret meeting",
	"-metadata", "comment=filmed by J. Doe",
	"-metadata", "creation_time=2021-06-01T12:00:00Z",
	"-metadata", "location=+48.8584+002.2945/",
}

// clipSpec describes a test clip.
type clipSpec struct {
	name       string // file name; its extension picks the container
	w, h       int
	seconds    float64
	rate       string
	videoCodec []string
	audioCodec []string // nil: no audio
	delay      string   // the video starts this many seconds after the audio
}

// makeClip writes the clip into dir and returns its path.
func makeClip(t testing.TB, dir string, c clipSpec) string {
	t.Helper()
	p := filepath.Join(dir, c.name)
	var args []string
	if c.delay != "" {
		args = append(args, "-itsoffset", c.delay)
	}
	args = append(args, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate="+c.rate+":duration="+ftoa(c.seconds))
	if c.audioCodec != nil {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+ftoa(c.seconds))
	}
	args = append(args, "-vf", "scale="+itoa(c.w)+":"+itoa(c.h))
	args = append(args, c.videoCodec...)
	if c.audioCodec != nil {
		args = append(args, c.audioCodec...)
	}
	args = append(args, clipMetadata...)
	ffmpegRun(t, append(args, p)...)
	return p
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
func itoa(i int) string     { return strconv.Itoa(i) }

var x264 = []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}

// probed is what ffprobe says about a file, read independently of Probe.
type probed struct {
	Streams []struct {
		CodecType    string            `json:"codec_type"`
		CodecName    string            `json:"codec_name"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		RFrameRate   string            `json:"r_frame_rate"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		NbReadFrames string            `json:"nb_read_frames"`
		BitRate      string            `json:"bit_rate"`
		SampleRate   string            `json:"sample_rate"`
		Tags         map[string]string `json:"tags"`
		SideData     []struct {
			Rotation float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		Duration string            `json:"duration"`
		Tags     map[string]string `json:"tags"`
	} `json:"format"`
}

// ffprobeFile decodes every frame of path to count them (-count_frames).
func ffprobeFile(t testing.TB, path string) probed {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-print_format", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probed
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return p
}

// audioPackets lists the sizes of the first audio stream's packets.
func audioPackets(t testing.TB, path string) []string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=size", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", path, err)
	}
	return strings.Fields(string(out))
}

// leftovers lists the files in dir other than keep.
func leftovers(t testing.TB, dir string, keep ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !slices.Contains(keep, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// solidBlack hides regions with solid black boxes.
var solidBlack = hide.Options{Style: hide.Solid, Shape: hide.Box, Colour: color.RGBA{A: 255}}

// checkSameVideo compares out with in: frame count (decoded), frame rate,
// duration within one frame, displayed size, and the audio (copied
// packet for packet when keepAudio, absent otherwise); and that none of the
// clip's metadata came along. It returns what ffprobe says about out.
func checkSameVideo(t *testing.T, in, out string, keepAudio bool) probed {
	t.Helper()
	ctx := context.Background()
	ii, err := Probe(ctx, in)
	if err != nil {
		t.Fatalf("probe input: %v", err)
	}
	oi, err := Probe(ctx, out)
	if err != nil {
		t.Fatalf("probe output: %v", err)
	}
	pin, pout := ffprobeFile(t, in), ffprobeFile(t, out)
	video := func(p probed) (int, string) {
		for i, s := range p.Streams {
			if s.CodecType == "video" {
				return i, s.NbReadFrames
			}
		}
		t.Fatalf("no video stream in %+v", p)
		return 0, ""
	}
	_, nin := video(pin)
	vo, nout := video(pout)
	if nin != nout || nout == "" || nout == "0" {
		t.Errorf("%s: %s frames decoded, input has %s", filepath.Base(out), nout, nin)
	}
	if ii.FrameRate != oi.FrameRate {
		t.Errorf("%s: frame rate %v, input %v", filepath.Base(out), oi.FrameRate, ii.FrameRate)
	}
	if d, frame := (oi.Duration - ii.Duration).Abs(), time.Duration(float64(time.Second)/ii.FrameRate.Float()); d > frame {
		t.Errorf("%s: duration %v, input %v: off by more than one frame (%v)", filepath.Base(out), oi.Duration, ii.Duration, frame)
	}
	if oi.DisplayWidth != ii.DisplayWidth || oi.DisplayHeight != ii.DisplayHeight {
		t.Errorf("%s: displayed at %dx%d, input at %dx%d", filepath.Base(out), oi.DisplayWidth, oi.DisplayHeight, ii.DisplayWidth, ii.DisplayHeight)
	}
	if oi.Rotation != 0 || len(pout.Streams[vo].SideData) != 0 {
		t.Errorf("%s: rotation %d, side data %+v: frames should be stored upright", filepath.Base(out), oi.Rotation, pout.Streams[vo].SideData)
	}
	switch {
	case keepAudio && !oi.HasAudio:
		t.Errorf("%s: no audio stream, want the input's kept", filepath.Base(out))
	case keepAudio:
		// Within half a frame: codec delays (Opus pre-skip) shift a few ms.
		if d := (oi.StartOffset - ii.StartOffset).Abs(); d > time.Duration(float64(time.Second)/ii.FrameRate.Float()/2) {
			t.Errorf("%s: video starts %v after the audio, input %v", filepath.Base(out), oi.StartOffset, ii.StartOffset)
		}
		if oi.AudioCodec != ii.AudioCodec {
			t.Errorf("%s: audio codec %s, input %s (want a copy)", filepath.Base(out), oi.AudioCodec, ii.AudioCodec)
		}
		a, b := audioPackets(t, in), audioPackets(t, out)
		if len(a) == 0 || !slices.Equal(a, b) {
			t.Errorf("%s: audio packets differ from the input's (%d vs %d packets): re-encoded?", filepath.Base(out), len(b), len(a))
		}
	case oi.HasAudio:
		t.Errorf("%s: audio stream present with KeepAudio off", filepath.Base(out))
	}
	tags := map[string]string{}
	for k, v := range pout.Format.Tags {
		tags["format:"+k] = v
	}
	for _, s := range pout.Streams {
		for k, v := range s.Tags {
			tags[s.CodecType+":"+k] = v
		}
	}
	for k, v := range tags {
		lv := strings.ToLower(v)
		if strings.Contains(lv, "secret") || strings.Contains(lv, "doe") || strings.Contains(lv, "48.8584") ||
			strings.Contains(lv, "2021") || strings.Contains(strings.ToLower(k), "location") {
			t.Errorf("%s: metadata %s=%q copied from the input", filepath.Base(out), k, v)
		}
	}
	return pout
}

// TestVideoFileFormats runs clips in each container through
// AnonymizeFile: same frames, rate, duration, displayed size and audio.
func TestVideoFileFormats(t *testing.T) {
	needFFmpeg(t)
	det := loadYunet(t, 1)
	dir := t.TempDir()
	aac := []string{"-c:a", "aac", "-b:a", "96k"}
	clips := []clipSpec{
		{name: "plain.mp4", w: 320, h: 240, seconds: 2, rate: "25", videoCodec: x264, audioCodec: aac},
		// Video starting two frames after the audio, as in many camera files.
		{name: "late.mp4", w: 320, h: 240, seconds: 1, rate: "25", videoCodec: x264, audioCodec: aac, delay: "0.08"},
		// Odd sides: H.264 4:2:0 cannot keep them, 4:4:4 can.
		{name: "odd.mp4", w: 321, h: 241, seconds: 1, rate: "25", videoCodec: []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"}, audioCodec: aac},
		{name: "ntsc.mov", w: 320, h: 240, seconds: 1, rate: "30000/1001", videoCodec: x264, audioCodec: aac},
		{name: "clip.mkv", w: 320, h: 240, seconds: 1, rate: "25", videoCodec: x264, audioCodec: []string{"-c:a", "libvorbis"}},
		{name: "clip.webm", w: 320, h: 240, seconds: 1, rate: "25", videoCodec: []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"}, audioCodec: []string{"-c:a", "libopus"}},
		{name: "clip.avi", w: 320, h: 240, seconds: 1, rate: "25", videoCodec: []string{"-c:v", "mpeg4"}, audioCodec: []string{"-c:a", "libmp3lame"}},
	}
	wantCodec := map[string]string{".mp4": "h264", ".mov": "h264", ".mkv": "h264", ".webm": "vp9", ".avi": "mpeg4"}
	for _, c := range clips {
		t.Run(c.name, func(t *testing.T) {
			in := makeClip(t, dir, c)
			outDir := t.TempDir()
			out := filepath.Join(outDir, c.name)
			res, err := AnonymizeFile(context.Background(), det, in, out, FileOptions{
				Encode: EncodeOptions{Codec: "libx264", Preset: "ultrafast", CRF: 23}, KeepAudio: true,
				Pipeline: PipelineOptions{Workers: 2, Hide: solidBlack},
			})
			if err != nil {
				t.Fatalf("AnonymizeFile: %v", err)
			}
			if res.Stats.Written != res.Info.Frames || res.Stats.Read != res.Info.Frames || res.Info.Frames == 0 {
				t.Errorf("stats %+v for %d frames", res.Stats, res.Info.Frames)
			}
			p := checkSameVideo(t, in, out, true)
			if got := p.Streams[0].CodecName; got != wantCodec[filepath.Ext(c.name)] {
				t.Errorf("video codec %s, want %s", got, wantCodec[filepath.Ext(c.name)])
			}
			if l := leftovers(t, outDir, c.name); len(l) > 0 {
				t.Errorf("left beside the output: %v", l)
			}
		})
	}
}

// TestVideoFileRotation: a clip stored 320x240 with a 90-degree rotation
// is written upright at its displayed size, 240x320, and so is the shared
// phone clip (stored 480x640, displayed 640x480).
func TestVideoFileRotation(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	plain := makeClip(t, dir, clipSpec{name: "plain.mp4", w: 320, h: 240, seconds: 1, rate: "25", videoCodec: x264, audioCodec: []string{"-c:a", "aac"}})
	rotated := filepath.Join(dir, "rotated.mp4")
	ffmpegRun(t, "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated)
	// The first second of the phone clip, its display matrix kept.
	phone := filepath.Join(dir, "phone.mp4")
	ffmpegRun(t, "-i", testenv.Shared(t, "data/video/new_face_video-90.mp4"), "-t", "1", "-c", "copy", phone)

	for _, tc := range []struct {
		in   string
		w, h int
	}{{rotated, 240, 320}, {phone, 640, 480}} {
		t.Run(filepath.Base(tc.in), func(t *testing.T) {
			info, err := Probe(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if info.Rotation == 0 || info.DisplayWidth != tc.w || info.DisplayHeight != tc.h {
				t.Fatalf("probe: rotation %d, display %dx%d; want a rotation and %dx%d", info.Rotation, info.DisplayWidth, info.DisplayHeight, tc.w, tc.h)
			}
			out := filepath.Join(t.TempDir(), "out.mp4")
			if _, err := AnonymizeFile(context.Background(), nopDetector{}, tc.in, out, FileOptions{
				Encode: EncodeOptions{Codec: "libx264", Preset: "ultrafast", CRF: 18}, KeepAudio: true,
				Pipeline: PipelineOptions{Workers: 2, Hide: solidBlack},
			}); err != nil {
				t.Fatalf("AnonymizeFile: %v", err)
			}
			checkSameVideo(t, tc.in, out, true)
			// Upright: the first output frame matches the input's first
			// frame as ffmpeg displays it (nothing was hidden).
			a, b := firstFrame(t, tc.in), firstFrame(t, out)
			defer a.Close()
			defer b.Close()
			if a.Cols() != b.Cols() || a.Rows() != b.Rows() {
				t.Fatalf("first frames %dx%d and %dx%d", a.Cols(), a.Rows(), b.Cols(), b.Rows())
			}
			diff := gocv.NewMat()
			defer diff.Close()
			gocv.AbsDiff(a, b, &diff)
			if m := diff.Mean(); m.Val1+m.Val2+m.Val3 > 3*8 {
				t.Errorf("first frame differs from the input's by %.1f on average: not upright?", (m.Val1+m.Val2+m.Val3)/3)
			}
		})
	}
}

// firstFrame decodes the first frame of path, upright.
func firstFrame(t testing.TB, path string) gocv.Mat {
	t.Helper()
	info, err := Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenVideo(context.Background(), info)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.Read()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return f.Mat
}

// nopDetector finds nothing.
type nopDetector struct{}

func (nopDetector) Detect(gocv.Mat) ([]convert.Detection, error) { return nil, nil }
func (d nopDetector) DetectInfo(m gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	return nil, d.Info(), nil
}
func (nopDetector) Info() convert.ModelInfo { return convert.ModelInfo{Name: "none"} }
func (nopDetector) Close() error            { return nil }

// TestVideoFileNoAudio: KeepAudio off writes no audio stream.
func TestVideoFileNoAudio(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	in := makeClip(t, dir, clipSpec{name: "a.mp4", w: 320, h: 240, seconds: 1, rate: "25", videoCodec: x264, audioCodec: []string{"-c:a", "aac"}})
	out := filepath.Join(dir, "out.mp4")
	if _, err := AnonymizeFile(context.Background(), nopDetector{}, in, out, FileOptions{
		Encode: EncodeOptions{Preset: "ultrafast"}, Pipeline: PipelineOptions{Hide: solidBlack},
	}); err != nil {
		t.Fatal(err)
	}
	checkSameVideo(t, in, out, false)
}

// TestVideoFileCorrupt: a truncated or damaged file is an error naming it,
// and leaves nothing behind: no output, no temporary file.
func TestVideoFileCorrupt(t *testing.T) {
	needFFmpeg(t)
	det := loadYunet(t, 1)
	src := t.TempDir()
	fast := makeClip(t, src, clipSpec{name: "fast.mp4", w: 320, h: 240, seconds: 2, rate: "25",
		videoCodec: append(slices.Clone(x264), "-movflags", "+faststart"), audioCodec: []string{"-c:a", "aac"}})
	slow := makeClip(t, src, clipSpec{name: "slow.mp4", w: 320, h: 240, seconds: 2, rate: "25", videoCodec: x264, audioCodec: []string{"-c:a", "aac"}})
	mkv := makeClip(t, src, clipSpec{name: "c.mkv", w: 320, h: 240, seconds: 2, rate: "25", videoCodec: x264})
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cut := func(b []byte) []byte { return b[:len(b)*6/10] }
	damage := func(b []byte) []byte {
		b = slices.Clone(b)
		for i := len(b) / 2; i < len(b)/2+4000; i++ {
			b[i] ^= byte(i*131 + 7)
		}
		return b
	}
	garbage := make([]byte, 100_000)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i/3)
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"truncated-faststart.mp4", cut(read(fast))}, // index first: the data ends early
		{"truncated.mp4", cut(read(slow))},           // index last: missing
		{"truncated.mkv", cut(read(mkv))},
		{"damaged.mp4", damage(read(fast))},
		{"garbage.mp4", garbage},
		{"empty.mov", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, c.name)
			if err := os.WriteFile(in, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			outDir := t.TempDir()
			out := filepath.Join(outDir, c.name)
			_, err := AnonymizeFile(context.Background(), det, in, out, FileOptions{
				Encode: EncodeOptions{Preset: "ultrafast"}, KeepAudio: true, Pipeline: PipelineOptions{Hide: solidBlack},
			})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), in) {
				t.Errorf("error %q does not name the file", err)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %q is not ErrCorrupt", err)
			}
			if l := leftovers(t, outDir); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
		})
	}
}

// TestVideoFileEveryFrame: a real face in every frame of a clip is hidden
// in every frame written.
func TestVideoFileEveryFrame(t *testing.T) {
	needFFmpeg(t)
	det := loadYunet(t, 1)
	dir := t.TempDir()
	photo := testenv.Shared(t, "data/faces/astronaut.png")
	in := filepath.Join(dir, "astronaut.mp4")
	// One second of the photo, a frame number burnt in so frames differ.
	ffmpegRun(t, "-loop", "1", "-framerate", "25", "-i", photo, "-t", "1",
		"-vf", "drawtext=text='%{n}':x=8:y=8:fontsize=24:fontcolor=white", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", in)

	img, err := imageio.Read(photo)
	if err != nil {
		t.Fatal(err)
	}
	dets, err := det.Detect(img)
	img.Close()
	if err != nil || len(dets) != 1 {
		t.Fatalf("the photo: %d detections (%v), want one face", len(dets), err)
	}
	face := dets[0].Box

	out := filepath.Join(dir, "out.mp4")
	res, err := AnonymizeFile(context.Background(), det, in, out, FileOptions{
		Encode: EncodeOptions{Preset: "ultrafast", CRF: 18}, Pipeline: PipelineOptions{Workers: 2, Hide: solidBlack},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Detections != res.Info.Frames || res.FramesWithDetections != res.Info.Frames {
		t.Errorf("%d detections in %d frames with any, over %d frames; want one in each", res.Stats.Detections, res.FramesWithDetections, res.Info.Frames)
	}
	info, err := Probe(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenVideo(context.Background(), info)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cx, cy := int((face.X1+face.X2)/2), int((face.Y1+face.Y2)/2)
	n := 0
	for ; ; n++ {
		f, err := src.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		centre := f.Mat.Region(image.Rect(cx-10, cy-10, cx+10, cy+10))
		m := centre.Mean()
		centre.Close()
		f.Mat.Close()
		if m.Val1 > 12 || m.Val2 > 12 || m.Val3 > 12 {
			t.Errorf("frame %d: face centre mean %.0f,%.0f,%.0f, want black", n, m.Val1, m.Val2, m.Val3)
		}
	}
	if n != 25 {
		t.Errorf("%d frames decoded, want 25", n)
	}
}

// TestVideoFileCancel: cancelling stops the file with ctx's error and
// leaves nothing behind.
func TestVideoFileCancel(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	in := makeClip(t, dir, clipSpec{name: "a.mp4", w: 320, h: 240, seconds: 2, rate: "25", videoCodec: x264})
	outDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := AnonymizeFile(ctx, nopDetector{}, in, filepath.Join(outDir, "a.mp4"), FileOptions{
		Encode: EncodeOptions{Preset: "ultrafast"}, Pipeline: PipelineOptions{Hide: solidBlack},
		Progress: func(done, total int) {
			if done == 10 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if l := leftovers(t, outDir); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// TestEncoder: frames of the wrong size are refused, Abort and a Close
// without frames leave nothing, and a clean Close puts the file in place.
func TestEncoder(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(40, 80, 120, 0), 48, 64, gocv.MatTypeCV8UC3)
	defer frame.Close()

	e, err := NewEncoder(filepath.Join(dir, "empty.mp4"), 64, 48, 25, EncodeOptions{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err == nil {
		t.Error("Close with no frames: no error")
	}

	e, err = NewEncoder(filepath.Join(dir, "aborted.mp4"), 64, 48, 25, EncodeOptions{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	small := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC3)
	if err := e.Write(small); err == nil {
		t.Error("a 10x10 frame into a 64x48 encoder: no error")
	}
	small.Close()
	if err := e.Write(frame); err != nil {
		t.Fatal(err)
	}
	e.Abort()
	e.Abort()
	if err := e.Close(); err == nil {
		t.Error("Close after Abort: no error")
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}

	out := filepath.Join(dir, "ok.mp4")
	e, err = NewEncoder(out, 64, 48, 29.97, EncodeOptions{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := e.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output exists before Close (err %v)", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	info, err := Probe(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Frames != 30 || info.FrameRate != (Rational{30000, 1001}) || info.DisplayWidth != 64 || info.DisplayHeight != 48 {
		t.Errorf("probe %+v, want 30 frames of 64x48 at 30000/1001", info)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	if l := leftovers(t, dir, "ok.mp4"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// TestRawFrameColours: frames pass the pipes as I420 when both sides are
// even and as BGR when not; either way a frame written comes back with its
// colours, and a decoded frame matches ffmpeg's own conversion to BGR.
func TestRawFrameColours(t *testing.T) {
	needFFmpeg(t)
	photo, err := imageio.Read(testenv.Shared(t, "data/faces/astronaut.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer photo.Close()
	for _, size := range []image.Point{{512, 384}, {321, 241}} {
		t.Run(fmt.Sprintf("%dx%d", size.X, size.Y), func(t *testing.T) {
			reg := photo.Region(image.Rect(0, 0, size.X, size.Y))
			frame := reg.Clone()
			reg.Close()
			defer frame.Close()
			out := filepath.Join(t.TempDir(), "out.mp4")
			e, err := NewEncoder(out, size.X, size.Y, 25, EncodeOptions{Preset: "ultrafast", CRF: 1})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if err := e.Write(frame); err != nil {
					e.Abort()
					t.Fatal(err)
				}
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			got := firstFrame(t, out)
			defer got.Close()
			if d := meanAbsDiff(got, frame); d > 3 {
				t.Errorf("decoded frame differs from the frame written by %.2f on average", d)
			}
			raw, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", out, "-frames:v", "1",
				"-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1").Output()
			if err != nil {
				t.Fatal(err)
			}
			ref, err := gocv.NewMatFromBytes(size.Y, size.X, gocv.MatTypeCV8UC3, raw)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			if d := meanAbsDiff(got, ref); d > 1.5 {
				t.Errorf("decoded frame differs from ffmpeg's BGR by %.2f on average", d)
			}
		})
	}
}

// meanAbsDiff is the mean absolute difference of two BGR images, over
// pixels and channels.
func meanAbsDiff(a, b gocv.Mat) float64 {
	diff := gocv.NewMat()
	defer diff.Close()
	gocv.AbsDiff(a, b, &diff)
	m := diff.Mean()
	return (m.Val1 + m.Val2 + m.Val3) / 3
}

func TestRational(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want Rational
	}{{25, Rational{25, 1}}, {29.97002997, Rational{30000, 1001}}, {59.94005994005994, Rational{60000, 1001}}, {12.5, Rational{25, 2}}, {23.976023976, Rational{24000, 1001}}, {0, Rational{}}, {math.Inf(1), Rational{}}} {
		if got := RationalOf(c.f); got != c.want {
			t.Errorf("RationalOf(%g) = %v, want %v", c.f, got, c.want)
		}
	}
	for s, want := range map[string]Rational{"30000/1001": {30000, 1001}, "25": {25, 1}, "25/1": {25, 1}} {
		if got, err := ParseRational(s); err != nil || got != want {
			t.Errorf("ParseRational(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"0/0", "1/0", "x", "-25"} {
		if _, err := ParseRational(s); err == nil {
			t.Errorf("ParseRational(%q): no error", s)
		}
	}
}

// TestBatchVideo: Plan takes videos (keeping their extension whatever the
// image format), and RunBatch anonymizes them beside images, counting
// frames and reporting progress.
func TestBatchVideo(t *testing.T) {
	needFFmpeg(t)
	det := loadYunet(t, 1)
	in := t.TempDir()
	makeClip(t, in, clipSpec{name: "clip.mp4", w: 320, h: 240, seconds: 1, rate: "25", videoCodec: x264, audioCodec: []string{"-c:a", "aac"}})
	photo, err := os.ReadFile(testenv.Shared(t, "data/faces/astronaut.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "face.png"), photo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	tasks, other, err := Plan([]string{in}, out, "jpg")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || len(other) != 1 {
		t.Fatalf("tasks %+v, other %v", tasks, other)
	}
	var video Task
	for _, tk := range tasks {
		if tk.IsVideo() {
			video = tk
		}
	}
	if video.Kind != KindVideo || video.Output != filepath.Join(out, "clip.mp4") {
		t.Fatalf("video task %+v", video)
	}

	var results []ImageResult
	var progress [][2]int
	sum := RunBatch(context.Background(), det, tasks, BatchOptions{
		Format: "jpg", JPEGQuality: 90, Jobs: 2, Hide: solidBlack,
		Video: VideoOptions{Encode: EncodeOptions{Codec: "libx264", Preset: "ultrafast"}, KeepAudio: true, DetectMaxSide: 640},
		FrameProgress: func(tk Task, done, total int) {
			if tk.Input != video.Input {
				t.Errorf("progress for %s", tk.Input)
			}
			progress = append(progress, [2]int{done, total})
		},
	}, func(r ImageResult) { results = append(results, r) })
	if sum.Done != 2 || sum.Videos != 1 || sum.Frames != 25 || sum.Problems() != 0 {
		t.Errorf("summary %+v", sum)
	}
	if len(progress) != 26 || progress[0] != [2]int{0, 25} || progress[25] != [2]int{25, 25} {
		t.Errorf("progress %v, want 0..25 of 25", progress)
	}
	SortResults(results)
	v := results[0]
	if v.Kind != KindVideo || v.Video == nil || v.Video.Frames != 25 || v.Video.FrameRate != "25/1" || !v.Video.Audio ||
		v.Video.Codec != "libx264" || len(v.Video.Models) != 1 || v.Model == nil || v.Width != 320 || v.Height != 240 {
		t.Errorf("video record %+v (video %+v)", v, v.Video)
	}
	if results[1].Kind != "" || results[1].Video != nil || len(results[1].Detections) != 1 {
		t.Errorf("image record %+v", results[1])
	}
	checkSameVideo(t, video.Input, video.Output, true)

	// A second run skips the existing output; a failing detector hides
	// every frame whole, counted.
	sum = RunBatch(context.Background(), det, []Task{video}, BatchOptions{Hide: solidBlack}, nil)
	if sum.Skipped != 1 || sum.Videos != 1 {
		t.Errorf("second run: %+v", sum)
	}
	results = nil
	sum = RunBatch(context.Background(), failingDetector{}, []Task{video}, BatchOptions{Overwrite: true, Hide: solidBlack,
		Video: VideoOptions{Encode: EncodeOptions{Preset: "ultrafast"}}}, func(r ImageResult) { results = append(results, r) })
	if sum.HiddenWhole != 1 || sum.FramesHiddenWhole != 25 || sum.Problems() != 1 || len(results) != 1 || results[0].Status != StatusHiddenWhole {
		t.Errorf("failing detector: summary %+v, results %+v", sum, results)
	}
	results = nil
	sum = RunBatch(context.Background(), failingDetector{}, []Task{video}, BatchOptions{Overwrite: true, Hide: solidBlack, DropOnError: true,
		Video: VideoOptions{Encode: EncodeOptions{Preset: "ultrafast"}}}, func(r ImageResult) { results = append(results, r) })
	if sum.Failed != 1 || len(results) != 1 || results[0].Status != StatusFailed || results[0].Output != "" {
		t.Errorf("failing detector, drop: summary %+v, results %+v (every frame dropped: nothing to write)", sum, results)
	}
}

// sizeDetector reports one box at fixed pixels of whatever it is given,
// and remembers the size it was given.
type sizeDetector struct {
	nopDetector
	w, h int
}

func (d *sizeDetector) DetectInfo(m gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	d.w, d.h = m.Cols(), m.Rows()
	return []convert.Detection{{Box: convert.Box{X1: 10, Y1: 20, X2: 30, Y2: 40}, Keypoints: []convert.Point{{X: 20, Y: 30}}}}, d.Info(), nil
}

// TestShrinkDetector: big frames reach the detector shrunk to the longer
// side asked for, and its boxes come back in the frame's pixels.
func TestShrinkDetector(t *testing.T) {
	for _, c := range []struct {
		w, h, max, dw, dh int
	}{
		{1920, 1080, 640, 640, 360}, // halved, then linear
		{1280, 720, 640, 640, 360},  // exactly halved
		{3840, 2160, 640, 640, 360}, // halved twice
		{1080, 1920, 640, 360, 640}, // portrait
		{640, 480, 640, 640, 480},   // small enough already
		{1001, 333, 500, 500, 166},  // odd sizes
	} {
		img := gocv.NewMatWithSize(c.h, c.w, gocv.MatTypeCV8UC3)
		inner := &sizeDetector{}
		dets, err := (&shrinkDetector{Detector: inner, maxSide: c.max}).Detect(img)
		img.Close()
		if err != nil || len(dets) != 1 {
			t.Fatalf("%dx%d: %v, %v", c.w, c.h, dets, err)
		}
		if inner.w != c.dw || inner.h != c.dh {
			t.Errorf("%dx%d at most %d: detector saw %dx%d, want %dx%d", c.w, c.h, c.max, inner.w, inner.h, c.dw, c.dh)
		}
		fx, fy := float32(c.w)/float32(c.dw), float32(c.h)/float32(c.dh)
		want := convert.Box{X1: 10 * fx, Y1: 20 * fy, X2: 30 * fx, Y2: 40 * fy}
		if b := dets[0].Box; math.Abs(float64(b.X1-want.X1)) > 1e-3 || math.Abs(float64(b.Y2-want.Y2)) > 1e-3 ||
			math.Abs(float64(dets[0].Keypoints[0].X-20*fx)) > 1e-3 {
			t.Errorf("%dx%d: box %+v, keypoint %+v; want %+v", c.w, c.h, b, dets[0].Keypoints[0], want)
		}
	}
}
