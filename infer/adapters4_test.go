package infer_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
)

// Integration tests of the ultraface, retinaface, mpface, lpd_yunet and
// nanodet adapters: each catalogue model installed from ../shared/models,
// loaded through Load (contract check included) and run by Detect at its
// default threshold on real photos.
//
// Boxes measured by hand on the photos, in source pixels (x2, y2
// exclusive). Faces: hairline (or hat brim) to chin, cheek to cheek, ears
// left out. Plates: the outer edge of the plate, the bounding box of its
// four corners when it is slanted.
var (
	// faces/astronaut.png, 512x512.
	a4Astronaut = convert.Box{X1: 183, Y1: 80, X2: 270, Y2: 180}
	// faces/group_uf2.jpg, 1024x484, left to right.
	a4Group = []convert.Box{
		{X1: 132, Y1: 107, X2: 220, Y2: 238},
		{X1: 303, Y1: 100, X2: 400, Y2: 225},
		{X1: 548, Y1: 85, X2: 652, Y2: 212},
		{X1: 720, Y1: 135, X2: 835, Y2: 267},
	}
	// faces/portrait_mpface.jpg, 474x503: from under the hat brim.
	a4Portrait = convert.Box{X1: 145, Y1: 165, X2: 310, Y2: 372}
	// plates/*.jpg: the one plate on each.
	a4Plates = map[string]convert.Box{
		"plates/lp_0.jpg":  {X1: 204, Y1: 455, X2: 399, Y2: 620}, // 720x1160, slanted
		"plates/lp_11.jpg": {X1: 362, Y1: 324, X2: 486, Y2: 371}, // 640x474
		"plates/lp_2.jpg":  {X1: 259, Y1: 506, X2: 393, Y2: 557}, // 720x1160
	}
)

// a4MinIoU is the overlap a face detection must have with a hand-measured
// face. Models draw faces differently (mpface's square box reaches below
// the chin); the lowest seen on these photos is 0.60 (mpface, group_uf2).
const a4MinIoU = 0.5

// a4Runtime is a CPU runtime on the test ONNX Runtime library.
func a4Runtime(t *testing.T) *infer.Runtime {
	t.Helper()
	rt, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Providers: []string{"cpu"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("init onnx runtime: %v", err)
	}
	return rt
}

// a4Load installs the catalogue model name from ../shared/models into a
// temporary folder (edit, when not nil, changes its entry first), loads it,
// and closes it when the test ends.
func a4Load(t *testing.T, rt *infer.Runtime, name string, edit func(*models.Entry)) *infer.Model {
	t.Helper()
	cat, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := cat.Find(name)
	if !ok {
		t.Fatalf("model %s is not in the catalogue", name)
	}
	if edit != nil {
		edit(&e)
	}
	dir, err := models.Install(e, testenv.Shared(t, filepath.Join("models", name, models.ModelFile)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.Load(dir, infer.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
	})
	return m
}

// a4Detect reads the photo rel under ../shared/data and runs m on it.
func a4Detect(t *testing.T, m *infer.Model, rel string) []convert.Detection {
	t.Helper()
	path := testenv.Shared(t, filepath.Join("data", rel))
	img := gocv.IMRead(path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatalf("read %s: not an image", path)
	}
	dets, err := m.Detect(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s at %.2f: %d found%s", rel, m.Info().Threshold, len(dets), a4Fmt(dets))
	return dets
}

func a4Fmt(dets []convert.Detection) string {
	var b strings.Builder
	for _, d := range dets {
		fmt.Fprintf(&b, "\n  %s %.3f (%.0f, %.0f, %.0f, %.0f)", d.Label, d.Score, d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2)
	}
	return b.String()
}

// a4Match matches each want box to a distinct detection for which
// ok(detection box, want box) holds, best score of fit first; it reports
// the boxes left without one.
func a4Match(t *testing.T, dets []convert.Detection, want []convert.Box, what string, fit func(d, w convert.Box) float32, minFit float32) {
	t.Helper()
	used := make([]bool, len(dets))
	for _, w := range want {
		best, bestFit := -1, float32(0)
		for i, d := range dets {
			if f := fit(d.Box, w); !used[i] && f > bestFit {
				best, bestFit = i, f
			}
		}
		if best < 0 || bestFit <= minFit {
			t.Errorf("%s %v: no detection of its own fits it (best %.2f, want > %.2f)", what, w, bestFit, minFit)
			continue
		}
		used[best] = true
	}
}

// covered is the fraction of b's area inside a.
func covered(a, b convert.Box) float32 {
	if b.Area() == 0 {
		return 0
	}
	iw := min(a.X2, b.X2) - max(a.X1, b.X1)
	ih := min(a.Y2, b.Y2) - max(a.Y1, b.Y1)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	return iw * ih / b.Area()
}

// TestAdapters4Faces: every new face model finds exactly the faces of three
// photos, each on a hand-measured face, and nothing on three photos of
// cars.
func TestAdapters4Faces(t *testing.T) {
	rt := a4Runtime(t)
	faceModels := []struct {
		name, adapter string
		keypoints     int
	}{
		{"ultraface-slim-320", "ultraface", 0},
		{"ultraface-rfb-320", "ultraface", 0},
		{"ultraface-rfb-640", "ultraface", 0},
		{"retinaface-mnet025-640", "retinaface", 5},
		{"mpface-blazeface-back-256", "mpface", 6},
	}
	photos := []struct {
		rel   string
		faces []convert.Box
	}{
		{"faces/astronaut.png", []convert.Box{a4Astronaut}},
		{"faces/group_uf2.jpg", a4Group},
		{"faces/portrait_mpface.jpg", []convert.Box{a4Portrait}},
		{"plates/lp_0.jpg", nil},
		{"plates/lp_11.jpg", nil},
		{"plates/lp_2.jpg", nil},
	}
	for _, fm := range faceModels {
		t.Run(fm.name, func(t *testing.T) {
			m := a4Load(t, rt, fm.name, nil)
			if got := m.Info().Adapter; got != fm.adapter {
				t.Fatalf("adapter %q, want %q", got, fm.adapter)
			}
			for _, ph := range photos {
				t.Run(filepath.Base(ph.rel), func(t *testing.T) {
					dets := a4Detect(t, m, ph.rel)
					if len(dets) != len(ph.faces) {
						t.Errorf("found %d faces, want %d", len(dets), len(ph.faces))
					}
					a4Match(t, dets, ph.faces, "face", convert.IoU, a4MinIoU)
					for _, d := range dets {
						if d.Label != "face" || len(d.Keypoints) != fm.keypoints {
							t.Errorf("detection %q with %d keypoints, want \"face\" with %d", d.Label, len(d.Keypoints), fm.keypoints)
						}
					}
					// Keypoints (eyes, nose, mouth; mpface adds the ear
					// tragions) lie on the face, give or take a margin of
					// a fifth of its size for the ears.
					for _, d := range dets {
						for k, p := range d.Keypoints {
							if !a4Near(p, ph.faces, 0.2) {
								t.Errorf("keypoint %d (%.0f, %.0f) is on no face", k, p.X, p.Y)
							}
						}
					}
				})
			}
		})
	}
}

// a4Near reports whether p lies in one of boxes, each grown by frac of its
// size on every side.
func a4Near(p convert.Point, boxes []convert.Box, frac float32) bool {
	for _, b := range boxes {
		mx, my := frac*b.W(), frac*b.H()
		if p.X >= b.X1-mx && p.X <= b.X2+mx && p.Y >= b.Y1-my && p.Y <= b.Y2+my {
			return true
		}
	}
	return false
}

// TestAdapters4Plates: both LPD-YuNet models find the plate of each car
// photo, with its four corners on the plate, and no plate on photos of
// people.
func TestAdapters4Plates(t *testing.T) {
	rt := a4Runtime(t)
	for _, name := range []string{"lpd-yunet-2023mar", "lpd-yunet-2023mar-int8"} {
		t.Run(name, func(t *testing.T) {
			m := a4Load(t, rt, name, nil)
			if got := m.Info().Adapter; got != "lpd_yunet" {
				t.Fatalf("adapter %q, want lpd_yunet", got)
			}
			for _, rel := range []string{"plates/lp_0.jpg", "plates/lp_11.jpg", "plates/lp_2.jpg"} {
				t.Run(filepath.Base(rel), func(t *testing.T) {
					plate := a4Plates[rel]
					dets := a4Detect(t, m, rel)
					if len(dets) == 0 {
						t.Fatalf("no plate found, want the one at %v", plate)
					}
					a4Match(t, dets[:1], []convert.Box{plate}, "plate", convert.IoU, 0.5)
					for _, d := range dets {
						if d.Label != "plate" || len(d.Keypoints) != 4 {
							t.Errorf("detection %q with %d keypoints, want \"plate\" with its 4 corners", d.Label, len(d.Keypoints))
						}
						// The corners lie on the plate (give or take 15% of
						// its size: on the slanted plate of lp_0 the model
						// puts one corner 17 px above it), inside the box.
						b := d.Box
						for k, p := range d.Keypoints {
							if !a4Near(p, []convert.Box{plate}, 0.15) {
								t.Errorf("corner %d (%.0f, %.0f) is off the plate %v", k, p.X, p.Y, plate)
							}
							if p.X < b.X1 || p.X > b.X2 || p.Y < b.Y1 || p.Y > b.Y2 {
								t.Errorf("corner %d (%.0f, %.0f) is outside the box %v", k, p.X, p.Y, b)
							}
						}
					}
				})
			}
			for _, rel := range []string{"faces/astronaut.png", "faces/group_uf2.jpg", "faces/portrait_mpface.jpg"} {
				t.Run(filepath.Base(rel), func(t *testing.T) {
					if dets := a4Detect(t, m, rel); len(dets) != 0 {
						t.Errorf("found %d plates on a photo without any", len(dets))
					}
				})
			}
		})
	}
}

// TestAdapters4NanoDet: NanoDet finds the four people of group_uf2.jpg,
// each body box holding a hand-measured face and reaching the bottom of
// the photo; with person_region = "head" each face lies in a head region
// that leaves the body out. No person on photos of cars (checked by eye:
// none is visible; the highest person score there is 0.20).
func TestAdapters4NanoDet(t *testing.T) {
	rt := a4Runtime(t)
	t.Run("body", func(t *testing.T) {
		m := a4Load(t, rt, "nanodet-m-416-coco", nil)
		if got := m.Info().Adapter; got != "nanodet" {
			t.Fatalf("adapter %q, want nanodet", got)
		}
		if hide := m.Info().Hide; len(hide) != 1 || hide[0] != "person" {
			t.Fatalf("hides %q, want only person", hide)
		}
		dets := a4Detect(t, m, "faces/group_uf2.jpg")
		if len(dets) != 4 {
			t.Errorf("found %d people, want 4", len(dets))
		}
		// Each face is inside its own body box (the box whose centre is
		// nearest the face's, among those holding 90% of it).
		a4Match(t, dets, a4Group, "face", func(d, w convert.Box) float32 {
			if covered(d, w) < 0.9 {
				return 0
			}
			dx := (d.X1+d.X2)/2 - (w.X1+w.X2)/2
			return 1 / (1 + max(dx, -dx))
		}, 0)
		for _, d := range dets {
			if d.Label != "person" {
				t.Errorf("detection %q, want person only", d.Label)
			}
			// The people are cut by the bottom edge (484 px): so are their
			// boxes.
			if d.Box.Y2 < 440 || d.Box.H() < 350 {
				t.Errorf("person box %v: want a body reaching the bottom of the photo", d.Box)
			}
		}
		for _, rel := range []string{"plates/lp_0.jpg", "plates/lp_11.jpg", "plates/lp_2.jpg"} {
			if dets := a4Detect(t, m, rel); len(dets) != 0 {
				t.Errorf("%s: found %d people on a photo without any", rel, len(dets))
			}
		}
	})
	t.Run("head", func(t *testing.T) {
		m := a4Load(t, rt, "nanodet-m-416-coco", func(e *models.Entry) {
			o := e.Options.(convert.NanoDetOptions)
			o.PersonRegion = "head"
			e.Options = o
		})
		dets := a4Detect(t, m, "faces/group_uf2.jpg")
		// Four heads; NMS now runs on the head regions, which may keep a
		// box spanning two people that NMS on the bodies drops (5 here).
		if len(dets) < 4 {
			t.Errorf("found %d heads, want 4 or more", len(dets))
		}
		a4Match(t, dets, a4Group, "face", func(d, w convert.Box) float32 {
			if covered(d, w) < 0.9 {
				return 0
			}
			return convert.IoU(d, w)
		}, 0)
		for _, d := range dets {
			// A head region is the top of the body: it ends above the
			// chests (y ~ 380) and is no higher than wide.
			if d.Box.Y2 > 380 || d.Box.H() > d.Box.W() {
				t.Errorf("head box %v: want the top of a body, at most as high as wide", d.Box)
			}
		}
	})
}
