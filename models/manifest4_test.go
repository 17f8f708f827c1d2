package models_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
)

// Manifests of the ultraface, retinaface, mpface, lpd_yunet and nanodet
// adapters, input.interp, and the catalogue models in ../shared/models.

// readManifestText writes text as a folder's model.toml and reads it.
func readManifestText(t *testing.T, text string) (models.Manifest, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, models.ManifestFile), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return models.ReadManifest(dir)
}

const manifestHead = `name = "m"
version = "1"
`

func TestManifestNewAdapters(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, m models.Manifest)
	}{
		{"ultraface, cubic resize", `adapter = "ultraface"
[input]
name = "input"
width = 320
height = 240
fit = "stretch"
interp = "cubic"
`, func(t *testing.T, m models.Manifest) {
			if p := m.Preprocess(); p.Interp != convert.InterpCubic || p.Fit != convert.FitStretch {
				t.Errorf("preprocess %+v, want cubic interpolation and stretch", p)
			}
		}},
		{"default interpolation", `adapter = "mpface"
[input]
name = "input"
`, func(t *testing.T, m models.Manifest) {
			if p := m.Preprocess(); p.Interp != convert.InterpAuto {
				t.Errorf("interp %v, want 0 (linear up, area down)", p.Interp)
			}
		}},
		{"retinaface priors", `adapter = "retinaface"
[input]
name = "input0"
width = 640
height = 640
[retinaface]
steps = [8, 16]
min_sizes = [[16.0], [32.0, 64.0]]
variances = [0.1, 0.2]
`, func(t *testing.T, m models.Manifest) {
			c, _ := m.Options.(convert.RetinaFaceOptions)
			if !slices.Equal(c.Steps, []int{8, 16}) || len(c.MinSizes) != 2 || !slices.Equal(c.MinSizes[1], []float32{32, 64}) || !slices.Equal(c.Variances, []float32{0.1, 0.2}) {
				t.Errorf("options %#v, want the [retinaface] priors", m.Options)
			}
		}},
		{"lpd_yunet priors", `adapter = "lpd_yunet"
labels = ["plate"]
[input]
name = "input"
[lpd_yunet]
steps = [8]
min_sizes = [[10.0, 16.0]]
`, func(t *testing.T, m models.Manifest) {
			if c, _ := m.Options.(convert.LPDYuNetOptions); !slices.Equal(c.Steps, []int{8}) || m.Adapter != "lpd_yunet" {
				t.Errorf("adapter %q, options %#v, want the [lpd_yunet] priors", m.Adapter, m.Options)
			}
		}},
		{"nanodet hides person by default, head region", `adapter = "nanodet"
labels = ["person", "car"]
[input]
name = "input.1"
[nanodet]
scores = ["a", "b", "c"]
boxes = ["d", "e", "f"]
person_region = "head"
`, func(t *testing.T, m models.Manifest) {
			if !slices.Equal(m.Hide, []string{"person"}) {
				t.Errorf("hide %q, want [person]", m.Hide)
			}
			c, _ := m.Options.(convert.NanoDetOptions)
			if c.PersonRegion != "head" || !slices.Equal(c.Scores, []string{"a", "b", "c"}) || !slices.Equal(c.Boxes, []string{"d", "e", "f"}) {
				t.Errorf("options %#v, want the [nanodet] options", m.Options)
			}
		}},
		{"nanodet with hide set", `adapter = "nanodet"
labels = ["person", "car"]
hide = ["car"]
[input]
name = "x"
[nanodet]
scores = ["a"]
boxes = ["d"]
strides = [16]
`, func(t *testing.T, m models.Manifest) {
			if c, _ := m.Options.(convert.NanoDetOptions); !slices.Equal(m.Hide, []string{"car"}) || !slices.Equal(c.Strides, []int{16}) {
				t.Errorf("hide %q, strides %v: want [car] and [16]", m.Hide, c.Strides)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := readManifestText(t, manifestHead+tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.NewDecoder(); err != nil {
				t.Fatalf("decoder: %v", err)
			}
			tc.check(t, m)
		})
	}
}

func TestManifestNewAdapterErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"unknown interp", `adapter = "ultraface"
[input]
name = "input"
interp = "lanczos"
`, "input.interp"},
		{"nanodet options on a yunet", `adapter = "yunet"
[input]
name = "input"
[nanodet]
person_region = "head"
`, "[nanodet]"},
		{"retinaface priors on lpd_yunet", `adapter = "lpd_yunet"
[input]
name = "input"
[retinaface]
steps = [8]
min_sizes = [[8.0]]
`, "[retinaface]"},
		{"yunet strides on a nanodet", `adapter = "nanodet"
labels = ["person"]
[input]
name = "x"
[yunet]
strides = [16]
[nanodet]
scores = ["a", "b", "c"]
boxes = ["d", "e", "f"]
`, "[yunet]"},
		{"nanodet without outputs", `adapter = "nanodet"
labels = ["person"]
[input]
name = "x"
`, "nanodet: scores and boxes are required"},
		{"nanodet person region", `adapter = "nanodet"
labels = ["person"]
[input]
name = "x"
[nanodet]
scores = ["a", "b", "c"]
boxes = ["d", "e", "f"]
person_region = "torso"
`, `person_region "torso"`},
		{"nanodet typo (strict)", `adapter = "nanodet"
labels = ["person"]
[input]
name = "x"
[nanodet]
scores = ["a", "b", "c"]
boxes = ["d", "e", "f"]
person_regoin = "head"
`, "nanodet.person_regoin"},
		{"retinaface steps and sizes disagree", `adapter = "retinaface"
[input]
name = "input0"
[retinaface]
steps = [8, 16, 32]
min_sizes = [[16.0, 32.0]]
`, "retinaface: 3 prior steps for 1 levels"},
		{"retinaface typo (strict)", `adapter = "retinaface"
[input]
name = "input0"
[retinaface]
variance = [0.1, 0.2]
`, "retinaface.variance"},
		{"unknown adapter lists the known", `adapter = "ssd"
[input]
name = "x"
`, "lpd_yunet, mpface, nanodet, retinaface, tfod, ultraface, yunet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readManifestText(t, manifestHead+tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// newCatalogueModels are the catalogue entries for the models this change
// adds; each must be in the catalogue and in ../shared/models.
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
