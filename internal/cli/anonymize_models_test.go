package cli

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// TestSeveralModels runs a face model and the mock (which hides pure red)
// at once, each hidden in its own style from [detectors.NAME].
func TestSeveralModels(t *testing.T) {
	repoConfig(t)
	root := t.TempDir()
	mock := filepath.Join(root, "mock")
	if code, _, stderr := runCLI(t, "models", "mock", "--out", mock); code != exitOK {
		t.Fatal(stderr)
	}
	cfg := filepath.Join(root, "config.toml")
	writeFile(t, cfg, []byte(`models_dir = "`+filepath.Join(filepath.Dir(repoConfig(t)), "models")+`"
model = "faces, `+mock+`"
[runtime]
library = "`+filepath.Join(filepath.Dir(repoConfig(t)), "third_party/onnxruntime/libonnxruntime.so.1")+`"
providers = ["cpu"]
[hide]
style = "solid"
shape = "box"
[detectors.mock]
colour = "#00ff00"
`))
	// A 1024x968 frame: the top-left quadrant pure red, the group photo in
	// the bottom half.
	group := gocv.IMRead(shared(t, "group_uf2.jpg"), gocv.IMReadColor)
	defer group.Close()
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 200, 200, 0), 968, 1024, gocv.MatTypeCV8UC3)
	defer frame.Close()
	red := frame.Region(image.Rect(0, 0, 512, 484))
	red.SetTo(gocv.NewScalar(0, 0, 255, 0))
	red.Close()
	bottom := frame.Region(image.Rect(0, 484, 1024, 968))
	group.CopyTo(&bottom)
	bottom.Close()
	in := filepath.Join(root, "in", "frame.png")
	os.MkdirAll(filepath.Dir(in), 0o755)
	if !gocv.IMWrite(in, frame) {
		t.Fatal("write input")
	}
	out := filepath.Join(root, "out")
	audit := filepath.Join(root, "audit.json")
	code, _, stderr := runCLI(t, "--config", cfg, "--out", out, "--audit", audit, filepath.Dir(in))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p := decode(t, filepath.Join(out, "frame.png"))
	green := [3]byte{0, 255, 0}
	if got := p.at(100, 100); got != green {
		t.Errorf("red quadrant pixel is %v, want the mock's green fill", got)
	}
	// Face centres of the group photo (shifted down by 484) are black.
	for _, c := range [][2]int{{352, 166 + 484}, {177, 178 + 484}, {598, 148 + 484}, {773, 202 + 484}} {
		if got := p.at(c[0], c[1]); got != black {
			t.Errorf("face centre %v is %v, want black", c, got)
		}
	}
	im := readAudit(t, audit).image(t, in)
	if !strings.Contains(im.Model, "yunet-n-dynamic@") || !strings.Contains(im.Model, "mock@") {
		t.Errorf("audit model %q, want both models named", im.Model)
	}
	if len(im.Detections) != 5 {
		t.Errorf("%d detections, want 4 faces and the red quadrant", len(im.Detections))
	}
}

// TestSeveralModelsAllMustLoad: one model that cannot load stops the run
// before anything is written.
func TestSeveralModelsAllMustLoad(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	in := filepath.Join(root, "in")
	copyFile(t, shared(t, "astronaut.png"), filepath.Join(in, "a.png"))
	out := filepath.Join(root, "out")
	code, _, stderr := runCLI(t, "--config", cfg, "--model", "faces,no-such-model", "--out", out, in)
	if code != exitUsage || !strings.Contains(stderr, "every model must load") || !strings.Contains(stderr, "no-such-model") {
		t.Fatalf("exit %d, stderr %q; want 2 naming the missing model", code, stderr)
	}
	if strings.Contains(stderr, "running one stays") {
		t.Errorf("a run that never started logs that a running model stays: %s", stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output folder exists (err %v): nothing may be written", err)
	}
}
