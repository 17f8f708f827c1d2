package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/eval"
)

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
	// The crowds of wider-dev, shrunk to 128 px (the smallest input a run
	// accepts), lose most of their faces.
	crowds, crowdBoxes := testenv.Shared(t, "data/faces/wider-dev"), testenv.Shared(t, "data/faces/wider-dev_boxes.json")
	code, out, stderr = runCLI(t, "eval", "--config", cfg, "--images", crowds, "--boxes", crowdBoxes, "--video", "frames", "--detect-max-side", "128")
	if code != exitOK || !regexp.MustCompile(`(?m)^model\s+yunet-n-dynamic \S+ \(cpu\)$`).MatchString(out) || !strings.Contains(out, "shrunk to at most 128 px") || recall(out) > 0.8 {
		t.Fatalf("eval --video at 128 px: exit %d, stderr %q, out:\n%s\nwant yunet-n-dynamic alone, faces lost", code, stderr, out)
	}
	if code, _, stderr := runCLI(t, "eval", "--config", cfg, "--images", imgs, "--boxes", boxes, "--detect-max-side", "128"); code != exitUsage {
		t.Errorf("--detect-max-side without --video: exit %d (%s), want %d", code, stderr, exitUsage)
	}
}

// TestEvalVideoClip: --video WxH runs the photos through the video-file
// path and --json carries the clip's figures; a bad frame size or scale
// is a usage error naming its flag.
func TestEvalVideoClip(t *testing.T) {
	cfg := repoConfig(t)
	dir := t.TempDir()
	const photo = "4--Dancing/4_Dancing_Dancing_4_960.jpg" // one face, 268 px high
	os.MkdirAll(filepath.Join(dir, "4--Dancing"), 0o755)
	copyFile(t, testenv.Shared(t, "data/faces/wider-dev/"+photo), filepath.Join(dir, photo))
	labels, err := eval.LoadLabels(testenv.Shared(t, "data/faces/wider-dev_boxes.json"))
	if err != nil {
		t.Fatal(err)
	}
	boxes := filepath.Join(dir, "boxes.json")
	data, _ := json.Marshal(map[string][][]float32{photo: {{labels[photo][0].X1, labels[photo][0].Y1, labels[photo][0].X2, labels[photo][0].Y2}}})
	os.WriteFile(boxes, data, 0o644)
	js := filepath.Join(dir, "eval.json")
	code, out, stderr := runCLI(t, "eval", "--config", cfg, "--images", dir, "--boxes", boxes, "--video", "320x180", "--scale", "0.8", "--preset", "ultrafast", "--json", js)
	if code != exitOK || !strings.Contains(out, "a 320x180 clip through the video-file path") {
		t.Fatalf("eval --video 320x180: exit %d, stderr %q, out:\n%s", code, stderr, out)
	}
	var r eval.Result
	if data, err := os.ReadFile(js); err != nil || json.Unmarshal(data, &r) != nil {
		t.Fatalf("--json: %v\n%s", err, data)
	}
	// The default [video] persist and look-ahead (5) make 11 frames a photo.
	if v := r.Video; r.Recall != 1 || r.Scale != 0.8 || v == nil || v.Width != 320 || v.Frames != 11 || v.FPS <= 0 || v.Codec != "libx264" {
		t.Errorf("--json: recall %v scale %v video %+v; want the face hidden in an 11-frame 320x180 libx264 clip", r.Recall, r.Scale, r.Video)
	}
	for _, bad := range [][]string{{"--video", "1920"}, {"--video", "0x0"}, {"--video", "640x360", "--scale", "0"}, {"--scale", "1.5"}} {
		args := append([]string{"eval", "--config", cfg, "--images", dir, "--boxes", boxes}, bad...)
		if code, _, stderr := runCLI(t, args...); code != exitUsage || !strings.Contains(stderr, bad[len(bad)-2]) {
			t.Errorf("%v: exit %d (%q), want %d naming %s", bad, code, stderr, exitUsage, bad[len(bad)-2])
		}
	}
}
