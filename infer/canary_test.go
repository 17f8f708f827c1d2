package infer_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/models/mock"
)

// blindFaceManifest is the mock's manifest with its label "red" renamed
// "face": with mock.ONNXBlind, a face model that runs, gives valid numbers
// and finds nothing.
var blindFaceManifest = strings.ReplaceAll(mock.Manifest, `"red"`, `"face"`)

// TestCanaryEveryModel: every model of the builtin catalogue loads, and
// each model hiding faces or people finds the one on the canary photo at its
// own threshold; plate models have no canary and say so.
func TestCanaryEveryModel(t *testing.T) {
	cat, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t)
	for _, e := range cat.Models {
		t.Run(e.Name, func(t *testing.T) {
			m := load(t, rt, modelDir(t, e.Name), infer.LoadOptions{})
			c := m.Canary()
			t.Logf("threshold %.2f, hides %q: %s", m.Info().Threshold, m.Info().Hide, c)
			for _, h := range m.Info().Hide {
				switch h {
				case "face", "person":
					if !hasFind(c, h) {
						t.Errorf("hides %q but the canary found none: %s", h, c)
					}
				case "plate":
					if len(c.Found) != 0 || len(c.Unchecked) != 1 || c.Unchecked[0] != "plate" {
						t.Errorf("plate model canary %+v, want plate unchecked", c)
					}
				}
			}
		})
	}
}

func hasFind(c infer.Canary, label string) bool {
	for _, f := range c.Found {
		if f.Label == label && f.Score > 0 {
			return true
		}
	}
	return false
}

// TestCanaryRefusesBlindModel: a face model whose outputs are valid numbers
// that find nothing is refused by Load, naming the canary; the same graph
// labelled "red" (no canary) loads, as the mock does.
func TestCanaryRefusesBlindModel(t *testing.T) {
	rt := newRuntime(t)
	m, err := rt.Load(makeModelDir(t, mock.ONNXBlind(), blindFaceManifest), infer.LoadOptions{})
	if err == nil {
		m.Close()
		t.Fatal("the blind face model loaded")
	}
	if !errors.Is(err, infer.ErrCanary) || !strings.Contains(err.Error(), "canary: found no face in the built-in photo") {
		t.Errorf("Load error %q, want ErrCanary saying it found no face in the built-in photo", err)
	}
	red := load(t, rt, makeModelDir(t, mock.ONNXBlind(), mock.Manifest), infer.LoadOptions{})
	if c := red.Canary(); len(c.Found) != 0 || len(c.Unchecked) != 1 || c.Unchecked[0] != "red" {
		t.Errorf("mock canary %+v, want red unchecked", c)
	}
}

// TestCanaryAtModelThreshold: the canary runs at the threshold the model
// will run at, an override included: a real face model asked for a score
// no face reaches is refused.
func TestCanaryAtModelThreshold(t *testing.T) {
	m, err := newRuntime(t).Load(modelDir(t, "yunet-n-dynamic"), infer.LoadOptions{Threshold: 1})
	if err == nil {
		m.Close()
		t.Fatal("yunet-n-dynamic at threshold 1 passed the canary")
	}
	if !errors.Is(err, infer.ErrCanary) {
		t.Errorf("Load error %v, want ErrCanary", err)
	}
}

// TestCanaryFailureKeepsRunningModel: a blind face model dropped into a
// served folder is refused on reload, with the canary in the log; the
// running model stays and still finds the face.
func TestCanaryFailureKeepsRunningModel(t *testing.T) {
	var logs testenv.LogBuffer
	rt, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	installAs(t, dir, "faces", "yunet-n-dynamic", "0")
	faces := filepath.Join(dir, "faces")
	specs := []infer.Spec{{Dir: faces}}
	set, err := rt.NewSet(specs)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	for name, data := range map[string][]byte{models.ModelFile: mock.ONNXBlind(), models.ManifestFile: []byte(blindFaceManifest)} {
		if err := os.WriteFile(filepath.Join(faces, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Reload(specs); !errors.Is(err, infer.ErrCanary) {
		t.Errorf("Reload to the blind model: error %v, want ErrCanary", err)
	}
	if !strings.Contains(logs.String(), "canary: found no face in the built-in photo") {
		t.Errorf("the log does not give the canary as the reason:\n%s", logs.String())
	}
	if got := set.Info(); got.Name != "faces" || got.Version != "0" {
		t.Errorf("running model %s %s, want faces 0 (yunet-n-dynamic) kept", got.Name, got.Version)
	}
	dets, err := set.Detect(readPhoto(t, "faces/astronaut.png"))
	if err != nil || len(dets) != 1 {
		t.Errorf("after the refused reload: %d faces, err %v; want the astronaut's face", len(dets), err)
	}
}

// TestNoCanaryLoggedOnce: a plate model has no canary; the runtime says so
// once, however often such a model is loaded.
func TestNoCanaryLoggedOnce(t *testing.T) {
	var logs testenv.LogBuffer
	rt, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	dir := modelDir(t, "lpd-yunet-2023mar")
	for range 2 {
		load(t, rt, dir, infer.LoadOptions{})
	}
	if n := strings.Count(logs.String(), "no canary for label plate"); n != 1 {
		t.Errorf("%d log lines say there is no canary for plates, want 1:\n%s", n, logs.String())
	}
}
