package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUnknownCodecRefused: a video.codec ffmpeg has no encoder for is
// refused at start (exit 2), naming encoders it has, in every mode that
// encodes video, and nothing is written; a folder run of images alone,
// which encodes none, runs.
func TestUnknownCodecRefused(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	in := filepath.Join(root, "in")
	copyFile(t, shared(t, "astronaut.png"), filepath.Join(in, "astronaut.png"))
	clip := filepath.Join(root, "clips", "clip.mp4")
	os.MkdirAll(filepath.Dir(clip), 0o755)
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.2",
		"-c:v", "libx264", "-preset", "ultrafast", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	refused := func(what string, args ...string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out")
		r := startCLI(t, append([]string{"--config", cfg, "--codec", "no-such-encoder", "--out", out}, args...)...)
		var code int
		select {
		case code = <-r.code:
			r.code <- code
		case <-time.After(60 * time.Second): // a watch not refused runs on
			code = r.stop(t)
		}
		stderr := r.stderr.String()
		if code != exitUsage || !strings.Contains(stderr, "no-such-encoder") || !strings.Contains(stderr, "libx264") {
			t.Errorf("%s: exit %d, want %d with an error naming the codec and encoders ffmpeg has; stderr:\n%s", what, code, exitUsage, stderr)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Errorf("%s: %d files written, want none", what, len(ents))
		}
	}
	refused("folder run with a video", in, filepath.Dir(clip))
	refused("watch", "--watch", in)
	refused("live", "--stream", clip)

	out := filepath.Join(t.TempDir(), "out")
	if code, _, stderr := runCLI(t, "--config", cfg, "--codec", "no-such-encoder", "--out", out, in); code != exitOK {
		t.Errorf("images only: exit %d, want 0; stderr:\n%s", code, stderr)
	}
}
