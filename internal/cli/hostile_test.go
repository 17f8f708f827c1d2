package cli

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/models/mock"
)

// The hostile-input corpus: files an attacker (or a broken camera) hands
// anonymize, made here by small generators, run beside real photos through
// a folder run (in a child process, so its peak memory is its own) and the
// service. TestHostileInputs logs the figures docs/RELIABILITY.md quotes.

// hostileCorpus writes the bad files into dir and returns their names.
func hostileCorpus(t *testing.T, dir string) []string {
	t.Helper()
	real := readFile(t, shared(t, "group_uf2.jpg"))
	rnd := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rnd.Uint32())
	}
	files := map[string][]byte{
		"bomb_header.png":     testenv.PNGBomb(t, 60000, 60000, true),
		"bomb_header_crc.png": testenv.PNGBomb(t, 60000, 60000, false),
		"bomb_header.jpg":     testenv.JPEGBomb(t, 60000, 60000),
		"bomb_header.bmp":     testenv.BMPBomb(t, 60000, 60000),
		"bomb_real.png":       testenv.BigPNG(t, 32768, 32768), // 2^30 pixels
		"truncated.jpg":       real[:len(real)/3],
		"garbage.jpg":         garbage,
		"empty.png":           nil,
		"png_as_jpeg.jpg":     testenv.PNGBomb(t, 70000, 70000, true),
		"jpeg_as_png.png":     real[:200],
		"zero_size.bmp":       testenv.BMPBomb(t, 0, 0),
		"negative_bmp.bmp":    testenv.BMPBomb(t, -5, 100), // a negative width
	}
	var names []string
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
		names = append(names, name)
	}
	return names
}

// TestCLIHelperProcess is the command in a child process for the tests
// that measure it from outside (peak memory).
func TestCLIHelperProcess(t *testing.T) {
	args := os.Getenv("TEST_ANONYMIZE_CLI_HELPER")
	if args == "" {
		t.Skip("helper process")
	}
	os.Exit(Run(t.Context(), Env{Args: append([]string{"anonymize"}, strings.Split(args, "\n")...), Stdout: os.Stdout, Stderr: os.Stderr}))
}

// TestHostileInputs: a folder of bombs (header-patched PNG, JPEG and BMP
// claiming 60000x60000, a real 2^30-pixel PNG), truncated, garbage and empty
// files beside real photos. The run exits 1, names each bad file once,
// writes every real photo with its faces hidden and writes the audit
// record, in seconds and under 2 GiB. The service refuses each bad file
// with a 4xx and goes on serving.
func TestHostileInputs(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	in, out, audit := filepath.Join(root, "in"), filepath.Join(root, "out"), filepath.Join(root, "audit.json")
	bad := hostileCorpus(t, in)
	good := []string{"group_uf2.jpg", "astronaut.png", "messi5.jpg"}
	for _, g := range good {
		copyFile(t, shared(t, g), filepath.Join(in, g))
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCLIHelperProcess$")
	cmd.Env = append(os.Environ(), "TEST_ANONYMIZE_CLI_HELPER="+strings.Join([]string{"--config", cfg, "--style", "solid", "--out", out, "--audit", audit, in}, "\n"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	code := cmd.ProcessState.ExitCode()
	if code != exitSomeFailed {
		t.Fatalf("exit %d (%v), want 1; stderr:\n%s", code, err, stderr.String())
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB to bytes
	for _, name := range bad {
		if n := strings.Count(stderr.String(), "file="+filepath.Join(in, name)+" "); n != 1 {
			t.Errorf("%s is named %d times on stderr, want once", name, n)
		}
		if _, err := os.Stat(filepath.Join(out, name)); !os.IsNotExist(err) {
			t.Errorf("%s: an output was written (%v)", name, err)
		}
	}
	a := readAudit(t, audit)
	hidden := 0
	for _, g := range good {
		im := a.image(t, filepath.Join(in, g))
		if im.Status != "done" || len(im.Detections) == 0 {
			t.Errorf("%s: status %q with %d detections, want done with its faces", g, im.Status, len(im.Detections))
		}
		hidden += len(im.Detections)
		if _, err := os.Stat(filepath.Join(out, g)); err != nil {
			t.Errorf("%s: not written: %v", g, err)
		}
	}
	if peak > 2<<30 {
		t.Errorf("peak memory %d MiB, want under 2 GiB", peak>>20)
	}
	t.Logf("folder run: %d hostile files and %d photos in %.1f s, exit %d, peak RSS %d MiB, %d faces hidden, 0 crashes",
		len(bad), len(good), elapsed.Seconds(), code, peak>>20, hidden)

	// The service: each bad file is a 4xx; a real photo after them is 200.
	srv := startServe(t, nil, "--config", defaultServeConfig(t))
	refused := 0
	for _, name := range bad {
		data := readFile(t, filepath.Join(in, name))
		r := srv.post(t, "/v1/anonymize", "application/octet-stream", data)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("service, %s: status %d, want a 4xx", name, r.status)
			continue
		}
		refused++
	}
	if r := srv.post(t, "/v1/anonymize", "image/jpeg", readFile(t, filepath.Join(in, "group_uf2.jpg"))); r.status != http.StatusOK {
		t.Errorf("service after the hostile files: status %d, want 200", r.status)
	}
	t.Logf("service: %d of %d hostile files refused with a 4xx, then a photo served", refused, len(bad))
}

// TestBrokenDetectorsRefused: a model emitting NaN, or valid numbers that
// find nothing, is refused before any input is read (exit 2: its warm-up
// fails the output check or the canary), so nothing is written unhidden.
func TestBrokenDetectorsRefused(t *testing.T) {
	cfg := repoConfig(t)
	for name, onnx := range map[string][]byte{"nan": mock.ONNXNaN(), "blind": mock.ONNXBlind()} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "models", name)
			writeFile(t, filepath.Join(dir, models.ModelFile), onnx)
			man := strings.Replace(mock.Manifest, `labels = ["red"]`, `labels = ["face"]`, 1)
			man = strings.Replace(man, `hide = ["red"]`, `hide = ["face"]`, 1)
			man = strings.Replace(man, `name = "mock"`, `name = "`+name+`"`, 1)
			writeFile(t, filepath.Join(dir, models.ManifestFile), []byte(man))
			in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
			copyFile(t, shared(t, "astronaut.png"), filepath.Join(in, "a.png"))
			code, _, stderr := runCLI(t, "--config", cfg, "--model", dir, "--out", out, in)
			if code != exitUsage {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if _, err := os.Stat(filepath.Join(out, "a.png")); !os.IsNotExist(err) {
				t.Errorf("an output was written with a broken detector (%v)", err)
			}
		})
	}
}
