package cli

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/ffmpeg"
)

// TestAnonymizeVideoFolder: a folder holding a video (the shared
// video_01.mp4, 3 s of 640x480 with AAC audio) comes out with the same
// frame count, frame rate, duration and displayed size, and the audio
// kept, as ffprobe sees them; --keep-audio=false drops the audio.
func TestAnonymizeVideoFolder(t *testing.T) {
	cfg := repoConfig(t)
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not installed (apt-get install ffmpeg): %v", b, err)
		}
	}
	in := t.TempDir()
	copyFile(t, testenv.Shared(t, "data/video/video_01.mp4"), filepath.Join(in, "clip.mp4"))
	copyFile(t, testenv.Shared(t, "data/faces/group_uf2.jpg"), filepath.Join(in, "group.jpg"))
	out := filepath.Join(t.TempDir(), "out")
	audit := filepath.Join(t.TempDir(), "audit.json")
	code, _, stderr := runCLI(t, "--config", cfg, "--style", "solid", "--preset", "ultrafast", "--threshold", "0.5", "--audit", audit, "--out", out, in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "1 videos, 90 frames written") {
		t.Errorf("summary does not count the video's frames: %s", stderr)
	}
	ctx := context.Background()
	src, err := ffmpeg.Probe(ctx, filepath.Join(in, "clip.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ffmpeg.Probe(ctx, filepath.Join(out, "clip.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	frame := time.Duration(float64(time.Second) / src.FrameRate.Float())
	if got.Frames != src.Frames || got.FrameRate != src.FrameRate || (got.Duration-src.Duration).Abs() > frame ||
		got.DisplayWidth != src.DisplayWidth || got.DisplayHeight != src.DisplayHeight || !got.HasAudio || got.AudioCodec != src.AudioCodec {
		t.Errorf("output %+v, input %+v: want the same frames, rate, duration (within a frame), size and audio", got, src)
	}
	// The photo runs both default face detectors, the video frames
	// yunet-n-dynamic alone (yunet-s is photos only); --threshold beats the
	// thresholds of [detectors].
	a := readAudit(t, audit)
	if len(a.Images) != 2 {
		t.Fatalf("audit lists %d files, want 2", len(a.Images))
	}
	photo, clip := a.image(t, filepath.Join(in, "group.jpg")), a.image(t, filepath.Join(in, "clip.mp4"))
	if len(a.Models) != 2 || a.Models[0].Threshold != 0.5 || a.Models[1].Threshold != 0.5 || strings.Count(photo.Model, "@") != 2 {
		t.Errorf("models %+v, photo by %q; want two models at threshold 0.5, both on the photo", a.Models, photo.Model)
	}
	if clip.Video == nil || len(clip.Video.Models) != 1 || clip.Video.Models[0].Name != "yunet-n-dynamic" || clip.Video.Models[0].Threshold != 0.5 {
		t.Errorf("video %+v, want yunet-n-dynamic alone at 0.5", clip.Video)
	}

	out2 := filepath.Join(t.TempDir(), "out")
	if code, _, stderr := runCLI(t, "--config", cfg, "--keep-audio=false", "--preset", "ultrafast", "-q", "--out", out2, filepath.Join(in, "clip.mp4")); code != 0 {
		t.Fatalf("--keep-audio=false: exit %d: %s", code, stderr)
	}
	if got, err := ffmpeg.Probe(ctx, filepath.Join(out2, "clip.mp4")); err != nil || got.HasAudio || got.Frames != src.Frames {
		t.Errorf("--keep-audio=false: %+v, %v; want %d frames and no audio", got, err, src.Frames)
	}
}
