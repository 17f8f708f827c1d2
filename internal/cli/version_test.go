package cli

import (
	"encoding/json"
	"os"
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

// TestCompletionBash sources the generated script in a real bash and
// completes the way a user's Tab does.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("bash is not installed: %v", err)
	}
	code, script, stderr := runCLI(t, "completion", "bash")
	if code != exitOK {
		t.Fatalf("completion bash: exit %d; stderr:\n%s", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "anonymize.bash")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ words, want string }{
		{"anonymize mo", "models"},
		{"anonymize models ''", "list pull install verify rm mock"},
		{"anonymize --sty", "--style"},
		{"anonymize -c x.toml ser", "serve"},
		{"anonymize serve --lis", "--listen"},
		{"anonymize --out ''", ""},    // a flag's value: file names (complete -o default)
		{"anonymize ./photos ''", ""}, // after a path no command follows
		{"anonymize completion ''", ""},
	} {
		prog := "source " + path + `; COMP_WORDS=(` + tc.words + `); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _anonymize; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, "--norc", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", tc.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("completing %q: %q, want %q", tc.words, got, tc.want)
		}
	}
}

func TestCompletionShells(t *testing.T) {
	for sh, want := range map[string]string{"zsh": "compdef _anonymize anonymize", "fish": "complete -c anonymize"} {
		code, script, stderr := runCLI(t, "completion", sh)
		if code != exitOK || !strings.Contains(script, want) || !strings.Contains(script, "models") {
			t.Errorf("completion %s: exit %d, want a script with %q; stderr: %s\n%s", sh, code, want, stderr, script)
		}
	}
	if code, _, stderr := runCLI(t, "completion", "tcsh"); code != exitUsage || !strings.Contains(stderr, "tcsh") {
		t.Errorf("completion tcsh: exit %d, want 2 naming the shell; stderr: %s", code, stderr)
	}
}

func TestManPage(t *testing.T) {
	code, page, stderr := runCLI(t, "man")
	if code != exitOK {
		t.Fatalf("man: exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{".TH anonymize 1", "--out", "completion"} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
}
