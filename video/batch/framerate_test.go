package batch

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/internal/videotest"
	"gocv.io/x/gocv"
)

// makeRateChange writes rate-change.mp4 into dir: one second of a real
// video at 15 fps, then one second at 60 fps (75 frames), joined without
// re-encoding, its index first.
func makeRateChange(t testing.TB, dir string) string {
	t.Helper()
	src := testenv.Shared(t, "data/video/video_01.mp4")
	a, b := filepath.Join(dir, "a.mp4"), filepath.Join(dir, "b.mp4")
	enc := append([]string{"-an", "-vf"}, "")
	for _, seg := range []struct{ path, start, fps string }{{a, "0", "15"}, {b, "1", "60"}} {
		enc[len(enc)-1] = "fps=" + seg.fps + ",scale=320:240"
		videotest.FFmpegRun(t, append(append([]string{"-ss", seg.start, "-i", src, "-t", "1"}, enc...), append(videotest.X264, seg.path)...)...)
	}
	list := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(list, []byte("file '"+a+"'\nfile '"+b+"'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rate-change.mp4")
	videotest.FFmpegRun(t, "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", "-movflags", "+faststart", out)
	return out
}

// TestVideoFileRateChange: a valid file whose frame rate changes from 15
// to 60 fps is read whole (every one of its 75 frames) and written, not
// refused as corrupt. (Its truncated copy is refused: TestVideoFileCorrupt.)
func TestVideoFileRateChange(t *testing.T) {
	videotest.NeedFFmpeg(t)
	in := makeRateChange(t, t.TempDir())
	if p := videotest.FFprobeFile(t, in); p.Streams[0].NbReadFrames != "75" {
		t.Fatalf("test clip has %s frames, want 75", p.Streams[0].NbReadFrames)
	}
	out := filepath.Join(t.TempDir(), "out.mp4")
	res, err := AnonymizeFile(context.Background(), nopDetector{}, in, out, FileOptions{
		Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}, Pipeline: video.PipelineOptions{Hide: solidBlack},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Read != 75 || res.Stats.Written != 75 {
		t.Errorf("read %d and wrote %d frames, want 75", res.Stats.Read, res.Stats.Written)
	}
	if p := videotest.FFprobeFile(t, out); p.Streams[0].NbReadFrames != "75" {
		t.Errorf("output has %s frames, want 75", p.Streams[0].NbReadFrames)
	}
}

// makeVFR writes vfr.mp4 into dir: video_01.mp4 (29.97 fps, with audio)
// less its frames 20 to 40, each other frame kept at its time, as a phone
// that drops frames records (a variable frame rate).
func makeVFR(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "vfr.mp4")
	videotest.FFmpegRun(t, "-i", testenv.Shared(t, "data/video/video_01.mp4"),
		"-vf", "select='not(between(n,20,40))'", "-fps_mode", "vfr", "-c:a", "copy", out)
	return out
}

// anonymizeKeepingAudio runs AnonymizeFile on in with audio kept and
// returns the output's path.
func anonymizeKeepingAudio(t *testing.T, in string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.mp4")
	_, err := AnonymizeFile(context.Background(), nopDetector{}, in, out, FileOptions{
		Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}, KeepAudio: true,
		Pipeline: video.PipelineOptions{Hide: solidBlack},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkFrameTimes fails unless every frame of out is shown when the same
// frame of in is, within a millisecond.
func checkFrameTimes(t *testing.T, in, out string) {
	t.Helper()
	want, got := videotest.FramePTS(t, in), videotest.FramePTS(t, out)
	if len(got) != len(want) {
		t.Fatalf("output has %d frames, input %d", len(got), len(want))
	}
	bad := 0
	for i := range want {
		if math.Abs(got[i]-want[i]) > 0.001 {
			if bad++; bad <= 3 {
				t.Errorf("frame %d at %.6f s, in the input at %.6f s", i, got[i], want[i])
			}
		}
	}
	if bad > 3 {
		t.Errorf("... %d frames off in all", bad)
	}
}

// checkStreamStarts fails unless out's video and audio start when in's do
// (within a millisecond: the audio stays in sync), the audio copied.
func checkStreamStarts(t *testing.T, in, out string) {
	t.Helper()
	ins, outs := videotest.FFprobeTiming(t, in), videotest.FFprobeTiming(t, out)
	if len(outs) != len(ins) {
		t.Fatalf("output has %d streams, input %d", len(outs), len(ins))
	}
	for i := range ins {
		a, b := ins[i], outs[i]
		if b.CodecType != a.CodecType || (a.CodecType == "audio" && b.CodecName != a.CodecName) {
			t.Errorf("stream %d is %s %s, in the input %s %s", i, b.CodecType, b.CodecName, a.CodecType, a.CodecName)
		}
		if math.Abs(atof(t, b.StartTime)-atof(t, a.StartTime)) > 0.001 {
			t.Errorf("%s starts at %s s, in the input at %s s", a.CodecType, b.StartTime, a.StartTime)
		}
	}
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("ffprobe: %q is not a number", s)
	}
	return f
}

// TestVideoFileVariableRate: a video with a variable frame rate (21 frames
// missing after 0.667 s) comes out with every frame at its time, not
// moved to a constant rate's grid (which put frame 21 at 0.870 s and the
// picture up to 0.5 s off its copied sound).
func TestVideoFileVariableRate(t *testing.T) {
	videotest.NeedFFmpeg(t)
	in := makeVFR(t, t.TempDir())
	if n := len(videotest.FramePTS(t, in)); n != 69 {
		t.Fatalf("test clip has %d frames, want 69", n)
	}
	out := anonymizeKeepingAudio(t, in)
	checkFrameTimes(t, in, out)
	checkStreamStarts(t, in, out)
}

// TestVideoFileConstantRate: a constant-rate video (29.97 fps) keeps its
// frame count, rate, duration and frame times, its audio in sync.
func TestVideoFileConstantRate(t *testing.T) {
	videotest.NeedFFmpeg(t)
	in := testenv.Shared(t, "data/video/video_01.mp4")
	out := anonymizeKeepingAudio(t, in)
	checkFrameTimes(t, in, out)
	checkStreamStarts(t, in, out)
	a, b := videotest.FFprobeTiming(t, in)[0], videotest.FFprobeTiming(t, out)[0]
	if b.NbFrames != a.NbFrames || b.AvgFrameRate != a.AvgFrameRate {
		t.Errorf("output: %s frames at %s fps, input %s at %s", b.NbFrames, b.AvgFrameRate, a.NbFrames, a.AvgFrameRate)
	}
	if d := math.Abs(atof(t, b.Duration) - atof(t, a.Duration)); d > 0.001 {
		t.Errorf("output lasts %s s, input %s s", b.Duration, a.Duration)
	}
}

// failFirst fails its first n detections, then finds nothing.
type failFirst struct {
	nopDetector
	n     int32
	calls atomic.Int32
}

func (d *failFirst) DetectInfo(m gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	if d.calls.Add(1) <= d.n {
		return nil, d.Info(), errors.New("warming up")
	}
	return nil, d.Info(), nil
}

// TestVideoFileLeadingDropsKeepSync: with on_error = "drop", frames
// dropped at the start leave their time empty: every frame written is at
// its own time and the sound is where it was, not the picture moved 100 ms
// ahead of it.
func TestVideoFileLeadingDropsKeepSync(t *testing.T) {
	videotest.NeedFFmpeg(t)
	in := testenv.Shared(t, "data/video/video_01.mp4")
	out := filepath.Join(t.TempDir(), "out.mp4")
	_, err := AnonymizeFile(context.Background(), &failFirst{n: 3}, in, out, FileOptions{
		Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}, KeepAudio: true,
		Pipeline: video.PipelineOptions{Hide: solidBlack, DropOnError: true, Workers: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	want, got := videotest.FramePTS(t, in)[3:], videotest.FramePTS(t, out)
	if len(got) != len(want) {
		t.Fatalf("output has %d frames, want %d (3 dropped)", len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 0.001 {
			t.Fatalf("frame %d of the output at %.6f s, in the input at %.6f s", i, got[i], want[i])
		}
	}
	ins, outs := videotest.FFprobeTiming(t, in), videotest.FFprobeTiming(t, out)
	if len(outs) != 2 || outs[1].CodecType != "audio" || math.Abs(atof(t, outs[1].StartTime)-atof(t, ins[1].StartTime)) > 0.001 {
		t.Errorf("audio %+v, want it copied, starting at %s s", outs, ins[1].StartTime)
	}
}
