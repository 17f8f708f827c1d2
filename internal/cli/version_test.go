package cli

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestVersionJSON: `version --json` names the versions of every part a
// run depends on, and the execution providers this library can set up.
func TestVersionJSON(t *testing.T) {
	cfg := repoConfig(t)
	code, stdout, stderr := runCLI(t, "version", "--json", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	var vi versionInfo
	if err := json.Unmarshal([]byte(stdout), &vi); err != nil {
		t.Fatalf("version --json: %v:\n%s", err, stdout)
	}
	semver := regexp.MustCompile(`^\d+\.\d+\.\d+`)
	for part, v := range map[string]string{"onnxruntime": vi.ONNXRuntime, "opencv": vi.OpenCV, "gocv": vi.GoCV} {
		if !semver.MatchString(v) {
			t.Errorf("%s version %q: want a version number; output:\n%s", part, v, stdout)
		}
	}
	if _, err := exec.LookPath("ffmpeg"); err == nil && vi.FFmpeg == "" {
		t.Errorf("ffmpeg is installed but no version reported (%s)", vi.FFmpegError)
	}
	if vi.Version == "" || !slices.Contains(vi.Providers, "cpu") {
		t.Errorf("version %q, providers %q: want a version and cpu among the providers", vi.Version, vi.Providers)
	}
}

// TestVersionMissingLibrary: a config naming an ONNX Runtime library that
// is not there says so (the troubleshooting path), and still exits 0.
func TestVersionMissingLibrary(t *testing.T) {
	repoConfig(t) // the runtime may already be initialised from the real library
	cfg := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, cfg, []byte("[runtime]\nlibrary = \"/nonexistent/libonnxruntime.so.1\"\n"))
	code, stdout, stderr := runCLI(t, "version", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "/nonexistent/libonnxruntime.so.1") || !strings.Contains(stdout, "opencv ") {
		t.Errorf("version with a missing library: want it named, and the other parts listed:\n%s", stdout)
	}
}
