package models_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
)

// newCatalogueModels are catalogue entries whose model files are in
// ../shared/models: each is installed from there and read back.
var newCatalogueModels = []string{
	"ultraface-slim-320", "ultraface-rfb-320", "ultraface-rfb-640", "retinaface-mnet025-640",
	"mpface-blazeface-back-256", "lpd-yunet-2023mar", "lpd-yunet-2023mar-int8", "nanodet-m-416-coco",
}

// TestCatalogueInstallsSharedModels installs every catalogue model whose
// folder is in ../shared/models: its sha256 and size must match the entry,
// and the installed model.toml must read back (strictly) as the entry's
// manifest.
func TestCatalogueInstallsSharedModels(t *testing.T) {
	cat, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range newCatalogueModels {
		if _, ok := cat.Find(name); !ok {
			t.Errorf("model %s is not in the catalogue", name)
		}
		testenv.Shared(t, filepath.Join("models", name, models.ModelFile))
	}
	installed := 0
	for _, e := range cat.Models {
		src := filepath.Join(testenv.SharedDir(), "models", e.Name, models.ModelFile)
		if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
			continue // fetched from npm, not kept in ../shared/models
		}
		installed++
		t.Run(e.Name, func(t *testing.T) {
			if !strings.HasPrefix(e.URL, "https://") || !strings.Contains(e.URL, "/") {
				t.Errorf("url %q: want an https URL", e.URL)
			}
			if e.License == "" || e.Description == "" || e.Source == "" {
				t.Errorf("license %q, description %q, source %q: all are required", e.License, e.Description, e.Source)
			}
			dir, err := models.Install(e, src, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dir, models.ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); got != e.SHA256 || int64(len(data)) != e.Size {
				t.Errorf("installed model.onnx: sha256 %s, %d bytes; catalogue says %s, %d bytes", got, len(data), e.SHA256, e.Size)
			}
			m, err := models.ReadManifest(dir)
			if err != nil {
				t.Fatalf("installed manifest: %v", err)
			}
			if !reflect.DeepEqual(m, e.Manifest) {
				t.Errorf("installed manifest reads back as\n%+v\nwant the catalogue's\n%+v", m, e.Manifest)
			}
			if _, err := m.NewDecoder(); err != nil {
				t.Errorf("decoder: %v", err)
			}
		})
	}
	if installed < len(newCatalogueModels) {
		t.Errorf("installed %d catalogue models from ../shared/models, want at least %d", installed, len(newCatalogueModels))
	}
}

// TestInstallRejectsOtherFile: a file that is not the entry's fails the
// checksum.
func TestInstallRejectsOtherFile(t *testing.T) {
	cat, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	e, _ := cat.Find("ultraface-rfb-320")
	other := testenv.Shared(t, "models/ultraface-slim-320/model.onnx")
	if _, err := models.Install(e, other, t.TempDir()); !errors.Is(err, models.ErrChecksum) {
		t.Fatalf("error %v, want ErrChecksum", err)
	}
}
