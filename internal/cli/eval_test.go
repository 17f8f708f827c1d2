package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
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
	code, out, stderr = runCLI(t, "eval", "--config", cfg, "--images", crowds, "--boxes", crowdBoxes, "--video", "--detect-max-side", "128")
	if code != exitOK || !regexp.MustCompile(`(?m)^model\s+yunet-n-dynamic \S+ \(cpu\)$`).MatchString(out) || !strings.Contains(out, "shrunk to at most 128 px") || recall(out) > 0.8 {
		t.Fatalf("eval --video at 128 px: exit %d, stderr %q, out:\n%s\nwant yunet-n-dynamic alone, faces lost", code, stderr, out)
	}
	if code, _, stderr := runCLI(t, "eval", "--config", cfg, "--images", imgs, "--boxes", boxes, "--detect-max-side", "128"); code != exitUsage {
		t.Errorf("--detect-max-side without --video: exit %d (%s), want %d", code, stderr, exitUsage)
	}
}
