package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLiveOverMaxPixels: max_pixels caps live sources too. A stream whose
// frames (the 512x512 photo) are over it is stopped at its first frame,
// exit 1, with an error naming the size, and nothing is written; a file
// given as --stream is refused at once (exit 2), by the size it reports.
func TestLiveOverMaxPixels(t *testing.T) {
	cfg := watchConfig(t, t.TempDir(), false, "max_pixels = 200000") // under 512x512
	port := freePort(t)
	startMJPEGServer(t, port)
	out := t.TempDir()
	code, _, stderr := runCLI(t, "--config", cfg, "--stream", fmt.Sprintf("http://127.0.0.1:%d", port), "--out", out)
	if code != exitSomeFailed || !strings.Contains(stderr, "512x512 frames") || !strings.Contains(stderr, "max_pixels") {
		t.Errorf("stream: exit %d, want %d with an error naming 512x512 and max_pixels; stderr:\n%s", code, exitSomeFailed, stderr)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("stream: %d files written, want none", len(ents))
	}

	clip := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := []string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25:duration=0.2", "-c:v", "libx264", "-preset", "ultrafast", clip}
	if out, err := exec.Command("ffmpeg", cmd...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	code, _, stderr = runCLI(t, "--config", cfg, "--stream", clip, "--out", out)
	if code != exitUsage || !strings.Contains(stderr, clip) || !strings.Contains(stderr, "640x480") {
		t.Errorf("file: exit %d, want %d with an error naming the file and 640x480; stderr:\n%s", code, exitUsage, stderr)
	}
}
