package batch

import (
	"context"
	"errors"
	"image"
	"image/color"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
	"github.com/anonymize/anonymize/video/internal/videotest"
)

// The video tests make their clips with ffmpeg (testsrc2 pictures, a sine
// tone) in a temporary folder, run them through AnonymizeFile with the
// real yunet-n-dynamic, and check the outputs with ffprobe.

// audioPackets lists the sizes of the first audio stream's packets.
func audioPackets(t testing.TB, path string) []string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=size", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", path, err)
	}
	return strings.Fields(string(out))
}

// solidBlack hides regions with solid black boxes.
var solidBlack = hide.Options{Style: hide.Solid, Shape: hide.Box, Colour: color.RGBA{A: 255}}

// checkSameVideo compares out with in: frame count (decoded), frame rate,
// duration within one frame, displayed size, and the audio (copied
// packet for packet when keepAudio, absent otherwise); and that none of the
// clip's metadata came along. It returns what ffprobe says about out.
func checkSameVideo(t *testing.T, in, out string, keepAudio bool) videotest.Probed {
	t.Helper()
	ctx := context.Background()
	ii, err := ffmpeg.Probe(ctx, in)
	if err != nil {
		t.Fatalf("probe input: %v", err)
	}
	oi, err := ffmpeg.Probe(ctx, out)
	if err != nil {
		t.Fatalf("probe output: %v", err)
	}
	pin, pout := videotest.FFprobeFile(t, in), videotest.FFprobeFile(t, out)
	video := func(p videotest.Probed) (int, string) {
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
	videotest.NeedFFmpeg(t)
	det := loadYunet(t, 1)
	dir := t.TempDir()
	aac := []string{"-c:a", "aac", "-b:a", "96k"}
	clips := []videotest.ClipSpec{
		{Name: "plain.mp4", W: 320, H: 240, Seconds: 2, Rate: "25", VideoCodec: videotest.X264, AudioCodec: aac},
		// Video starting two frames after the audio, as in many camera files.
		{Name: "late.mp4", W: 320, H: 240, Seconds: 1, Rate: "25", VideoCodec: videotest.X264, AudioCodec: aac, Delay: "0.08"},
		// Odd sides: H.264 4:2:0 cannot keep them, 4:4:4 can.
		{Name: "odd.mp4", W: 321, H: 241, Seconds: 1, Rate: "25", VideoCodec: []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"}, AudioCodec: aac},
		{Name: "ntsc.mov", W: 320, H: 240, Seconds: 1, Rate: "30000/1001", VideoCodec: videotest.X264, AudioCodec: aac},
		{Name: "clip.mkv", W: 320, H: 240, Seconds: 1, Rate: "25", VideoCodec: videotest.X264, AudioCodec: []string{"-c:a", "libvorbis"}},
		{Name: "clip.webm", W: 320, H: 240, Seconds: 1, Rate: "25", VideoCodec: []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"}, AudioCodec: []string{"-c:a", "libopus"}},
		{Name: "clip.avi", W: 320, H: 240, Seconds: 1, Rate: "25", VideoCodec: []string{"-c:v", "mpeg4"}, AudioCodec: []string{"-c:a", "libmp3lame"}},
	}
	wantCodec := map[string]string{".mp4": "h264", ".mov": "h264", ".mkv": "h264", ".webm": "vp9", ".avi": "mpeg4"}
	for _, c := range clips {
		t.Run(c.Name, func(t *testing.T) {
			in := videotest.MakeClip(t, dir, c)
			outDir := t.TempDir()
			out := filepath.Join(outDir, c.Name)
			res, err := AnonymizeFile(context.Background(), det, in, out, FileOptions{
				Encode: ffmpeg.EncodeOptions{Codec: "libx264", Preset: "ultrafast", CRF: 23}, KeepAudio: true,
				Pipeline: video.PipelineOptions{Workers: 2, Hide: solidBlack},
			})
			if err != nil {
				t.Fatalf("AnonymizeFile: %v", err)
			}
			if res.Stats.Written != res.Info.Frames || res.Stats.Read != res.Info.Frames || res.Info.Frames == 0 {
				t.Errorf("stats %+v for %d frames", res.Stats, res.Info.Frames)
			}
			p := checkSameVideo(t, in, out, true)
			if got := p.Streams[0].CodecName; got != wantCodec[filepath.Ext(c.Name)] {
				t.Errorf("video codec %s, want %s", got, wantCodec[filepath.Ext(c.Name)])
			}
			if l := videotest.Leftovers(t, outDir, c.Name); len(l) > 0 {
				t.Errorf("left beside the output: %v", l)
			}
		})
	}
}

// TestVideoFileRotation: a clip stored 320x240 with a 90-degree rotation
// is written upright at its displayed size, 240x320, and so is the shared
// phone clip (stored 480x640, displayed 640x480).
func TestVideoFileRotation(t *testing.T) {
	videotest.NeedFFmpeg(t)
	dir := t.TempDir()
	plain := videotest.MakeClip(t, dir, videotest.ClipSpec{Name: "plain.mp4", W: 320, H: 240, Seconds: 1, Rate: "25", VideoCodec: videotest.X264, AudioCodec: []string{"-c:a", "aac"}})
	rotated := filepath.Join(dir, "rotated.mp4")
	videotest.FFmpegRun(t, "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated)
	// The first second of the phone clip, its display matrix kept.
	phone := filepath.Join(dir, "phone.mp4")
	videotest.FFmpegRun(t, "-i", testenv.Shared(t, "data/video/new_face_video-90.mp4"), "-t", "1", "-c", "copy", phone)

	for _, tc := range []struct {
		in   string
		w, h int
	}{{rotated, 240, 320}, {phone, 640, 480}} {
		t.Run(filepath.Base(tc.in), func(t *testing.T) {
			info, err := ffmpeg.Probe(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if info.Rotation == 0 || info.DisplayWidth != tc.w || info.DisplayHeight != tc.h {
				t.Fatalf("probe: rotation %d, display %dx%d; want a rotation and %dx%d", info.Rotation, info.DisplayWidth, info.DisplayHeight, tc.w, tc.h)
			}
			out := filepath.Join(t.TempDir(), "out.mp4")
			if _, err := AnonymizeFile(context.Background(), nopDetector{}, tc.in, out, FileOptions{
				Encode: ffmpeg.EncodeOptions{Codec: "libx264", Preset: "ultrafast", CRF: 18}, KeepAudio: true,
				Pipeline: video.PipelineOptions{Workers: 2, Hide: solidBlack},
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

// loadYunet loads the installed yunet-n-dynamic on the CPU; it is closed
// when the test ends.
func loadYunet(t testing.TB, intraOpThreads int) *infer.Model {
	t.Helper()
	rt, err := infer.Init(infer.Options{
		Library: testenv.ORTLibrary(t), Providers: []string{"cpu"},
		IntraOpThreads: intraOpThreads, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("init onnx runtime: %v", err)
	}
	m, err := rt.Load(testenv.Model(t, "yunet-n-dynamic"), infer.LoadOptions{})
	if err != nil {
		t.Fatalf("load yunet-n-dynamic: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// firstFrame decodes the first frame of path, upright.
func firstFrame(t testing.TB, path string) gocv.Mat {
	t.Helper()
	info, err := ffmpeg.Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := ffmpeg.Open(context.Background(), info)
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
	videotest.NeedFFmpeg(t)
	dir := t.TempDir()
	in := videotest.MakeClip(t, dir, videotest.ClipSpec{Name: "a.mp4", W: 320, H: 240, Seconds: 1, Rate: "25", VideoCodec: videotest.X264, AudioCodec: []string{"-c:a", "aac"}})
	out := filepath.Join(dir, "out.mp4")
	if _, err := AnonymizeFile(context.Background(), nopDetector{}, in, out, FileOptions{
		Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}, Pipeline: video.PipelineOptions{Hide: solidBlack},
	}); err != nil {
		t.Fatal(err)
	}
	checkSameVideo(t, in, out, false)
}

// TestVideoFileCorrupt: a truncated or damaged file is an error naming it,
// and leaves nothing behind: no output, no temporary file.
func TestVideoFileCorrupt(t *testing.T) {
	videotest.NeedFFmpeg(t)
	det := loadYunet(t, 1)
	src := t.TempDir()
	fast := videotest.MakeClip(t, src, videotest.ClipSpec{Name: "fast.mp4", W: 320, H: 240, Seconds: 2, Rate: "25",
		VideoCodec: append(slices.Clone(videotest.X264), "-movflags", "+faststart"), AudioCodec: []string{"-c:a", "aac"}})
	slow := videotest.MakeClip(t, src, videotest.ClipSpec{Name: "slow.mp4", W: 320, H: 240, Seconds: 2, Rate: "25", VideoCodec: videotest.X264, AudioCodec: []string{"-c:a", "aac"}})
	mkv := videotest.MakeClip(t, src, videotest.ClipSpec{Name: "c.mkv", W: 320, H: 240, Seconds: 2, Rate: "25", VideoCodec: videotest.X264})
	rateChange := makeRateChange(t, src) // 15 then 60 fps, index first
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
		{"truncated-rate-change.mp4", cut(read(rateChange))},
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
				Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}, KeepAudio: true, Pipeline: video.PipelineOptions{Hide: solidBlack},
			})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), in) {
				t.Errorf("error %q does not name the file", err)
			}
			if !errors.Is(err, ffmpeg.ErrCorrupt) {
				t.Errorf("error %q is not ErrCorrupt", err)
			}
			if l := videotest.Leftovers(t, outDir); len(l) > 0 {
				t.Errorf("left behind: %v", l)
			}
		})
	}
}

// TestVideoFileEveryFrame: a real face in every frame of a clip is hidden
// in every frame written.
func TestVideoFileEveryFrame(t *testing.T) {
	videotest.NeedFFmpeg(t)
	det := loadYunet(t, 1)
	dir := t.TempDir()
	photo := testenv.Shared(t, "data/faces/astronaut.png")
	in := filepath.Join(dir, "astronaut.mp4")
	// One second of the photo, a frame number burnt in so frames differ.
	videotest.FFmpegRun(t, "-loop", "1", "-framerate", "25", "-i", photo, "-t", "1",
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
		Encode: ffmpeg.EncodeOptions{Preset: "ultrafast", CRF: 18}, Pipeline: video.PipelineOptions{Workers: 2, Hide: solidBlack},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Detections != res.Info.Frames || res.FramesWithDetections != res.Info.Frames {
		t.Errorf("%d detections in %d frames with any, over %d frames; want one in each", res.Stats.Detections, res.FramesWithDetections, res.Info.Frames)
	}
	info, err := ffmpeg.Probe(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	src, err := ffmpeg.Open(context.Background(), info)
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
	videotest.NeedFFmpeg(t)
	dir := t.TempDir()
	in := videotest.MakeClip(t, dir, videotest.ClipSpec{Name: "a.mp4", W: 320, H: 240, Seconds: 2, Rate: "25", VideoCodec: videotest.X264})
	outDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := AnonymizeFile(ctx, nopDetector{}, in, filepath.Join(outDir, "a.mp4"), FileOptions{
		Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}, Pipeline: video.PipelineOptions{Hide: solidBlack},
		Progress: func(done, total int) {
			if done == 10 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if l := videotest.Leftovers(t, outDir); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// TestBatchVideo: Plan takes videos (keeping their extension whatever the
// image format), and Run anonymizes them beside images, counting
// frames and reporting progress.
func TestBatchVideo(t *testing.T) {
	videotest.NeedFFmpeg(t)
	det := loadYunet(t, 1)
	in := t.TempDir()
	videotest.MakeClip(t, in, videotest.ClipSpec{Name: "clip.mp4", W: 320, H: 240, Seconds: 1, Rate: "25", VideoCodec: videotest.X264, AudioCodec: []string{"-c:a", "aac"}})
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
	sum := Run(context.Background(), det, tasks, Options{
		Format: "jpg", JPEGQuality: 90, Jobs: 2, Hide: solidBlack,
		Video: VideoOptions{Encode: ffmpeg.EncodeOptions{Codec: "libx264", Preset: "ultrafast"}, KeepAudio: true, DetectMaxSide: 640},
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
	sum = Run(context.Background(), det, []Task{video}, Options{Hide: solidBlack}, nil)
	if sum.Skipped != 1 || sum.Videos != 1 {
		t.Errorf("second run: %+v", sum)
	}
	results = nil
	sum = Run(context.Background(), failingDetector{}, []Task{video}, Options{Overwrite: true, Hide: solidBlack,
		Video: VideoOptions{Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}}}, func(r ImageResult) { results = append(results, r) })
	if sum.HiddenWhole != 1 || sum.FramesHiddenWhole != 25 || sum.Problems() != 1 || len(results) != 1 || results[0].Status != StatusHiddenWhole {
		t.Errorf("failing detector: summary %+v, results %+v", sum, results)
	}
	results = nil
	sum = Run(context.Background(), failingDetector{}, []Task{video}, Options{Overwrite: true, Hide: solidBlack, DropOnError: true,
		Video: VideoOptions{Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}}}, func(r ImageResult) { results = append(results, r) })
	if sum.Failed != 1 || len(results) != 1 || results[0].Status != StatusFailed || results[0].Output != "" {
		t.Errorf("failing detector, drop: summary %+v, results %+v (every frame dropped: nothing to write)", sum, results)
	}
}

// TestRunVideoInterrupted: a run stopped while a video is being encoded
// says the file was interrupted and nothing written, and logs no error
// about the pipes the stop broke (a --quiet run shows errors only).
func TestRunVideoInterrupted(t *testing.T) {
	videotest.NeedFFmpeg(t)
	dir := t.TempDir()
	in := videotest.MakeClip(t, dir, videotest.ClipSpec{Name: "a.mp4", W: 320, H: 240, Seconds: 4, Rate: "25", VideoCodec: videotest.X264})
	out := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs testenv.LogBuffer
	o := Options{Hide: solidBlack, Log: logs.Logger(), Video: VideoOptions{Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}}}
	o.FrameProgress = func(_ Task, done, _ int) {
		if done == 10 {
			cancel()
		}
	}
	var got ImageResult
	Run(ctx, nopDetector{}, []Task{{Input: in, Output: filepath.Join(out, "a.mp4")}}, o, func(r ImageResult) { got = r })
	if got.Status != StatusFailed || !strings.Contains(got.Error, "interrupted") || strings.Contains(got.Error, "pipe") {
		t.Errorf("result %q: %s, want failed, saying interrupted (not how a pipe broke)", got.Status, got.Error)
	}
	if s := logs.String(); strings.Contains(s, "level=ERROR") {
		t.Errorf("the stop was logged as an error:\n%s", s)
	}
	if l := videotest.Leftovers(t, out); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}
