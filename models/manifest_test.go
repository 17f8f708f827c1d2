package models_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/models"
)

// Manifests of the ultraface, retinaface, mpface, lpd_yunet and nanodet
// adapters, and input.interp (the catalogue models: catalog_test.go).

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
`, "lpd_yunet, mpface, nanodet, retinaface, scrfd, tfod, ultraface, yolov5face, yunet"},
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
