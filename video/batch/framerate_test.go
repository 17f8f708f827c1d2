package batch

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/internal/videotest"
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
