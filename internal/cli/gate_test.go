package cli

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
)

// TestRecallGate: with [reload] min_recall set, a reload swaps in a model
// that reaches the bar on the reference set and refuses one below it,
// keeping the running model.
func TestRecallGate(t *testing.T) {
	repoConfig(t)
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
	mock := filepath.Join(dir, "mock")
	if code, _, stderr := runCLI(t, "models", "mock", "--out", mock); code != exitOK {
		t.Fatal(stderr)
	}
	both := append(spec, infer.Spec{Dir: mock})
	if err := set.Reload(both); err != nil {
		t.Fatalf("adding the mock beside the faces: %v", err)
	}
	man, err := os.ReadFile(filepath.Join(mock, models.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	newer := regexp.MustCompile(`(?m)^version = .*$`).ReplaceAll(man, []byte(`version = "9"`))
	if err := os.WriteFile(filepath.Join(mock, models.ManifestFile), newer, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := set.Reload(both); err != nil {
		t.Fatalf("reload of a new mock beside the faces: %v", err)
	}
	if v := set.Info().Version; v != "3+9" {
		t.Errorf("versions %s serve, want 3+9", v)
	}
}

// TestModelsVerifyRecall: `models verify --images --boxes` reports recall
// and fails below --min-recall.
func TestModelsVerifyRecall(t *testing.T) {
	cfg := repoConfig(t)
	imgs, boxes := testenv.Shared(t, "data/faces"), testenv.Shared(t, "data/faces/voc_boxes.json")
	code, out, stderr := runCLI(t, "models", "verify", "--config", cfg, "yunet-n-dynamic", "--images", imgs, "--boxes", boxes, "--min-recall", "0.9")
	if code != exitOK || !strings.Contains(out, "recall    1.000 on 43 faces") {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
	}
	code, _, stderr = runCLI(t, "models", "verify", "--config", cfg, "blazeface-front-128", "--images", imgs, "--boxes", boxes, "--min-recall", "0.9")
	if code != exitSomeFailed || !strings.Contains(stderr, "below the minimum") {
		t.Fatalf("exit %d, stderr %q; want 1, below the minimum", code, stderr)
	}
}

// TestEvalVideo: `anonymize eval` measures the default (both face models);
// with --video it measures what video frames get: the models that run on
// video, on a copy shrunk to --detect-max-side, which loses small faces.
func TestEvalVideo(t *testing.T) {
	cfg := repoConfig(t)
	imgs, boxes := testenv.Shared(t, "data/faces"), testenv.Shared(t, "data/faces/voc_boxes.json")
	recall := func(out string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^recall\s+([0-9.]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no recall line in:\n%s", out)
		}
		r, _ := strconv.ParseFloat(m[1], 64)
		return r
	}
	code, out, stderr := runCLI(t, "eval", "--config", cfg, "--images", imgs, "--boxes", boxes)
	if code != exitOK || !strings.Contains(out, "yunet-n-dynamic+yunet-s-640-opencvzoo-2023mar") || recall(out) != 1 {
		t.Fatalf("eval: exit %d, stderr %q, out:\n%s\nwant both models, recall 1", code, stderr, out)
	}
	code, out, stderr = runCLI(t, "eval", "--config", cfg, "--images", imgs, "--boxes", boxes, "--video", "--detect-max-side", "80")
	if code != exitOK || !regexp.MustCompile(`(?m)^model\s+yunet-n-dynamic \S+ \(cpu\)$`).MatchString(out) || !strings.Contains(out, "shrunk to at most 80 px") || recall(out) > 0.8 {
		t.Fatalf("eval --video at 80 px: exit %d, stderr %q, out:\n%s\nwant yunet-n-dynamic alone, faces lost", code, stderr, out)
	}
	if code, _, stderr := runCLI(t, "eval", "--config", cfg, "--images", imgs, "--boxes", boxes, "--detect-max-side", "80"); code != exitUsage {
		t.Errorf("--detect-max-side without --video: exit %d (%s), want %d", code, stderr, exitUsage)
	}
}
