package models_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/models/mock"
)

// Fuzz targets: scripts/fuzz.sh runs each for FUZZTIME; the corpus worth
// keeping is in testdata/fuzz/FuzzX/ and replays in every go test.

// manifestSeeds are real model.toml files: every builtin catalogue entry's
// manifest, the mock's and the installed models'.
func manifestSeeds(f *testing.F) [][]byte {
	cat, err := models.BuiltinCatalog()
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{[]byte(mock.Manifest)}
	for _, e := range cat.Models {
		b, err := e.Manifest.MarshalTOML()
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	paths, _ := filepath.Glob(filepath.Join(testenv.ModelsDir(), "*", models.ManifestFile))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// FuzzManifest parses any bytes as a model.toml: never a panic, and a
// manifest that parses (and so validates) builds its decoder.
func FuzzManifest(f *testing.F) {
	for _, s := range manifestSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := models.ParseManifest(data, "fuzz/model.toml")
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("ParseManifest accepted a manifest that Validate refuses: %v", err)
		}
		d, err := m.NewDecoder()
		if err != nil || d == nil {
			t.Fatalf("a valid manifest gives no decoder: %v", err)
		}
		_ = d.Outputs()
		_ = m.Preprocess()
	})
}

// FuzzCatalog parses any bytes as a catalogue: never a panic, and every
// entry of one that parses builds its decoder.
func FuzzCatalog(f *testing.F) {
	b, err := os.ReadFile("catalog.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("[[model]]\nname = \"x\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := models.ParseCatalog(data, "fuzz.toml")
		if err != nil {
			return
		}
		for _, e := range c.Models {
			if _, err := e.NewDecoder(); err != nil {
				t.Fatalf("catalogue entry %s parses but gives no decoder: %v", e.Name, err)
			}
		}
	})
}
