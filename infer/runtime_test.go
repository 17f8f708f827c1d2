package infer_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
)

// The ONNX Runtime library of scripts/setup.sh is a CPU build: appending the
// CUDA or TensorRT provider fails ("Failed to load shared library"), so Load
// falls back along the configured list. Where a GPU build does run CUDA the
// fallback cannot be seen and the test skips.
func TestProviderFallback(t *testing.T) {
	dir := modelDir(t, "yunet-n-dynamic")
	for _, tc := range []struct {
		providers   []string
		unavailable []string // each logged as unavailable before cpu is used
	}{
		{providers: []string{"cuda", "cpu"}, unavailable: []string{"cuda"}},
		{providers: []string{"tensorrt", "cuda", "cpu"}, unavailable: []string{"tensorrt", "cuda"}},
	} {
		t.Run(strings.Join(tc.providers, ","), func(t *testing.T) {
			var log bytes.Buffer
			rt, err := infer.Init(infer.Options{
				Library:   testenv.ORTLibrary(t),
				Providers: tc.providers,
				Logger:    slog.New(slog.NewTextHandler(&log, nil)),
			})
			if err != nil {
				t.Fatalf("Init: %v", err)
			}
			m := load(t, rt, dir, infer.LoadOptions{})
			got := m.Info().Provider
			if got != "cpu" {
				t.Skipf("provider %s started (this ONNX Runtime build has it), so there is no fallback to check", got)
			}
			t.Logf("log:\n%s", log.String())
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != len(tc.unavailable)+1 {
				t.Fatalf("%d log lines, want one per unavailable provider and one for the load:\n%s", len(lines), log.String())
			}
			for i, p := range tc.unavailable {
				for _, w := range []string{"unavailable", "provider=" + p, "model=" + filepath.Join(dir, "model.onnx"), "err="} {
					if !strings.Contains(lines[i], w) {
						t.Errorf("log line %d %q does not contain %q", i+1, lines[i], w)
					}
				}
			}
			last := lines[len(lines)-1]
			for _, w := range []string{"model loaded", "provider=cpu", "model=yunet-n-dynamic"} {
				if !strings.Contains(last, w) {
					t.Errorf("last log line %q does not contain %q", last, w)
				}
			}
			// The fallback model works.
			dets, err := m.Detect(readPhoto(t, "faces/astronaut.png"))
			if err != nil || len(dets) != 1 {
				t.Errorf("Detect on the CPU fallback: %d faces, %v; want 1, nil", len(dets), err)
			}
			// A second model does not try (and log) the missing providers again.
			log.Reset()
			m2 := load(t, rt, modelDir(t, "blazeface-back-256"), infer.LoadOptions{})
			if m2.Info().Provider != "cpu" || strings.Count(log.String(), "\n") != 1 || !strings.Contains(log.String(), "model loaded") {
				t.Errorf("second model on %s; log:\n%s\nwant only its load line", m2.Info().Provider, log.String())
			}
		})
	}
}

// TestProviderCUDAOnly: with cuda alone there is nothing to fall back to.
func TestProviderCUDAOnly(t *testing.T) {
	rt, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Providers: []string{"cuda"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	m, err := rt.Load(modelDir(t, "yunet-n-dynamic"), infer.LoadOptions{})
	if err == nil {
		provider := m.Info().Provider
		m.Close()
		t.Skipf("provider %s started: this ONNX Runtime build runs CUDA", provider)
	}
	for _, w := range []string{"no execution provider", "cuda"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Load error %q does not contain %q", err, w)
		}
	}
}

func TestUnknownProvider(t *testing.T) {
	for _, p := range []string{"rocm", "CPU", ""} {
		_, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Providers: []string{"cpu", p}})
		if err == nil {
			t.Errorf("Init with provider %q succeeded, want an error", p)
			continue
		}
		for _, w := range []string{`"` + p + `"`, "cuda", "tensorrt"} { // names it and lists the known ones
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Init with provider %q: error %q does not contain %q", p, err, w)
			}
		}
	}
}

// TestInitAgain: the environment is process-wide; a second Init with the
// same library (or a link to it, or none: the one in use) must give a
// working runtime, and models loaded through either must work.
func TestInitAgain(t *testing.T) {
	lib := testenv.ORTLibrary(t)
	link := filepath.Join(t.TempDir(), "libonnxruntime.so")
	if err := os.Symlink(lib, link); err != nil {
		t.Fatal(err)
	}
	t.Setenv(infer.LibraryEnv, "")
	rt1 := newRuntime(t)
	dir := mockDir(t)
	m1 := load(t, rt1, dir, infer.LoadOptions{})
	img := solid(t, 16, 16, redB, redG, redR)
	for _, library := range []string{lib, link, ""} {
		rt2, err := infer.Init(infer.Options{Library: library, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("second Init with library %q: %v", library, err)
		}
		if v := rt2.Version(); v == "" || v != rt1.Version() {
			t.Errorf("Version() = %q after a second Init, first was %q", v, rt1.Version())
		}
		m2 := load(t, rt2, dir, infer.LoadOptions{})
		for i, m := range []*infer.Model{m1, m2} {
			if dets, err := m.Detect(img); err != nil || len(dets) != 2 {
				t.Errorf("library %q, model %d: Detect gave %d detections, %v; want 2, nil", library, i+1, len(dets), err)
			}
		}
	}
}

// TestInitOtherLibrary: the environment cannot switch libraries without a
// restart, so asking for another one must fail, naming both, instead of
// silently running the first.
func TestInitOtherLibrary(t *testing.T) {
	newRuntime(t) // the library of scripts/setup.sh is the one in use
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(other, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := infer.Init(infer.Options{Library: other})
	if err == nil {
		t.Fatalf("Init with %s succeeded while %s is in use", other, testenv.ORTLibrary(t))
	}
	for _, w := range []string{other, testenv.ORTLibrary(t)} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %s", err, w)
		}
	}
}
