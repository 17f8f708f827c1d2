package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/anonymize/anonymize/convert"
)

// TestThresholdBands: yunet-n runs with its built-in bands; a config's
// bands replace them; a table setting only threshold runs that threshold
// at every size; --threshold overrides any bands.
func TestThresholdBands(t *testing.T) {
	spec := func(c Config, model string) (float32, convert.Bands) {
		t.Helper()
		o := c.SpecFor(filepath.Join(c.ModelsDir, model)).Options
		return o.Threshold, o.Bands
	}
	load := func(text string) Config {
		t.Helper()
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := loadChecked(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := Default()
	if _, b := spec(c, "yunet-n-dynamic"); b.String() != "[[20, 0.1], [0, 0.25]]" {
		t.Errorf("default yunet-n bands %s", b)
	}
	if _, b := spec(c, "yunet-s-640-opencvzoo-2023mar"); b != nil {
		t.Errorf("yunet-s has bands %s, want none", b)
	}
	c = load("[detectors.yunet-n-dynamic]\nthreshold_bands = [[30, 0.05], [0, 0.4]]\n")
	if _, b := spec(c, "yunet-n-dynamic"); b.String() != "[[30, 0.05], [0, 0.4]]" {
		t.Errorf("config bands: %s", b)
	}
	c = load("[detectors.faces]\nthreshold = 0.5\n")
	if thr, b := spec(c, "yunet-n-dynamic"); thr != 0.5 || b != nil {
		t.Errorf("[detectors.faces] threshold 0.5: runs %g with bands %s, want 0.5 at every size", thr, b)
	}
	c = Default()
	c.ForceThreshold(0.7)
	if thr, b := spec(c, "yunet-n-dynamic"); thr != 0.7 || b != nil {
		t.Errorf("--threshold 0.7: runs %g with bands %s, want 0.7 at every size", thr, b)
	}
}
