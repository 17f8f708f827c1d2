package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: whatever a config file holds, Load and Validate return a
// config or an error, never a panic; a config they accept resolves its
// models and its hiding style without error.
func FuzzLoad(f *testing.F) {
	entries, _ := os.ReadDir(filepath.Join("testdata", "config"))
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join("testdata", "config", e.Name())); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("[detectors.x]\nthreshold = nan\n"))
	f.Add([]byte("model = \",,\"\n[aliases]\nfaces = \"faces\"\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			return
		}
		if _, err := c.HideOptions(); err != nil {
			t.Fatalf("a valid config has no hiding style: %v", err)
		}
		for _, s := range c.Specs() {
			if s.Dir == "" {
				t.Fatalf("a valid config resolves a model to no folder: %q", c.Model)
			}
			if d, ok := c.Detector(s.Dir); ok {
				if _, err := c.HideWith(d); err != nil {
					t.Fatalf("valid [detectors] table with no hiding style: %v", err)
				}
			}
		}
	})
}
