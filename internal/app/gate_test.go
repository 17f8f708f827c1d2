package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/models/mock"
)

// TestRecallGate: with [reload] min_recall set, a reload swaps in a model
// that reaches the bar on the reference set and refuses one below it,
// keeping the running model.
func TestRecallGate(t *testing.T) {
	testenv.Model(t, "yunet-n-dynamic")
	cfg := config.Default()
	cfg.Reload.MinRecall = 0.9
	cfg.Reload.ReferenceImages = testenv.Shared(t, "data/faces")
	cfg.Reload.ReferenceBoxes = testenv.Shared(t, "data/faces/voc_boxes.json")
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	rt, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Providers: []string{"cpu"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	install := func(name, version string) {
		cat, _ := models.BuiltinCatalog()
		e, _ := cat.Find(name)
		e.Name, e.Version = "faces", version
		if _, err := models.Install(e, filepath.Join(testenv.Model(t, name), models.ModelFile), dir); err != nil {
			t.Fatal(err)
		}
	}
	install("yunet-n-dynamic", "1")
	spec := []infer.Spec{{Dir: filepath.Join(dir, "faces")}}
	set, err := rt.NewSet(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var logs strings.Builder
	installGate(cfg, set, slog.New(slog.NewTextHandler(&logs, nil)))

	// BlazeFace front-128 hides about a third of the VOC faces: refused.
	install("blazeface-front-128", "2")
	err = set.Reload(spec)
	if err == nil || !strings.Contains(err.Error(), "below reload.min_recall") {
		t.Fatalf("reload error %v, want a refusal by the recall gate", err)
	}
	if v := set.Info().Version; v != "1" {
		t.Errorf("version %s serves after the refusal, want 1", v)
	}
	if !strings.Contains(logs.String(), "refused by the recall gate") || !strings.Contains(logs.String(), "recall=0.") {
		t.Errorf("log lacks the refusal and its figure:\n%s", logs.String())
	}
	// YuNet again, as version 3: recall 1.0 on VOC, accepted.
	install("yunet-n-dynamic", "3")
	if err := set.Reload(spec); err != nil {
		t.Fatalf("reload of a model above the bar: %v", err)
	}
	if v := set.Info().Version; v != "3" {
		t.Errorf("version %s serves, want 3", v)
	}

	// Beside the face model, a model for something else (the mock hides
	// pure red) is judged by the recall of the set it joins: a new version
	// of it passes, though alone it hides no face at all.
	mockDir := filepath.Join(dir, "mock")
	if err := mock.Write(mockDir); err != nil {
		t.Fatal(err)
	}
	both := append(spec, infer.Spec{Dir: mockDir})
	if err := set.Reload(both); err != nil {
		t.Fatalf("adding the mock beside the faces: %v", err)
	}
	man, err := os.ReadFile(filepath.Join(mockDir, models.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	newer := regexp.MustCompile(`(?m)^version = .*$`).ReplaceAll(man, []byte(`version = "9"`))
	if err := os.WriteFile(filepath.Join(mockDir, models.ManifestFile), newer, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := set.Reload(both); err != nil {
		t.Fatalf("reload of a new mock beside the faces: %v", err)
	}
	if v := set.Info().Version; v != "3+9" {
		t.Errorf("versions %s serve, want 3+9", v)
	}
}
