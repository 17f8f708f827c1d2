package infer_test

import (
	"fmt"
	"image"
	"math"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
)

// Integration tests: every adapter on a real model and a real photo, through
// Load and Detect at each model's default threshold.
//
// Face boxes below were measured by hand on the photos (forehead or hairline
// to chin, cheek to cheek, ears left out), in source pixels.
var (
	// astronaut.png, 512x512: one face.
	astronautFace = convert.Box{X1: 187, Y1: 78, X2: 277, Y2: 185}
	// portrait_mpface.jpg, 474x503: one face, from under the hat brim.
	portraitFace = convert.Box{X1: 140, Y1: 160, X2: 312, Y2: 375}
	// group_uf2.jpg, 1024x484: four faces, left to right.
	groupFaces = []convert.Box{
		{X1: 130, Y1: 107, X2: 225, Y2: 245},
		{X1: 305, Y1: 100, X2: 402, Y2: 237},
		{X1: 548, Y1: 90, X2: 655, Y2: 213},
		{X1: 720, Y1: 135, X2: 830, Y2: 270},
	}
	// Eye centres (pupils) of the single faces, the image-left eye first.
	astronautEyes = [2]convert.Point{{X: 203, Y: 101}, {X: 247, Y: 103}}
	portraitEyes  = [2]convert.Point{{X: 182, Y: 245}, {X: 260, Y: 243}}
	// messi5.jpg, 548x342: one face about 31x38 px.
	messiFace = convert.Box{X1: 226, Y1: 96, X2: 257, Y2: 134}
)

// minIoU is the overlap a detection must have with a hand-measured box.
// Models draw faces differently (BlazeFace's square box reaches from the
// eyebrows to below the chin), so the bar is low; every box measured so far
// overlaps by 0.42 or more.
const minIoU = 0.3

// photoCase is a photo and the faces on it.
type photoCase struct {
	photo string
	faces []convert.Box
	// centre: each single face's box centre must fall in this region.
	centre image.Rectangle
	// eyes of a single face: the first two keypoints must lie within 10%
	// of the face's width of them.
	eyes [2]convert.Point
}

var adapterPhotos = []photoCase{
	{photo: "faces/astronaut.png", faces: []convert.Box{astronautFace}, centre: image.Rect(170, 60, 280, 190), eyes: astronautEyes},
	{photo: "faces/portrait_mpface.jpg", faces: []convert.Box{portraitFace}, centre: image.Rect(175, 200, 280, 330), eyes: portraitEyes},
	{photo: "faces/group_uf2.jpg", faces: groupFaces},
	// Cars, no people (looked at: lp_2.jpg has a dim shape behind its
	// windscreen, so it is left out).
	{photo: "plates/lp_11.jpg"},
	{photo: "plates/lp_0.jpg"},
}

// faceModels are the face models of the builtin catalogue that these tests
// run, one row per model; the comments say which decoder packaging each one
// exercises.
// Every one finds all four faces of group_uf2.jpg at its default threshold,
// the 128 px near-range models included (checked: scores 0.60 to 0.87).
var faceModels = []struct {
	name      string
	adapter   string
	keypoints int
}{
	{"yunet-n-dynamic", "yunet", 5},                           // dynamic input, fed at the photo's size
	{"yunet-s-640-opencvzoo-2023mar", "yunet", 5},             // fixed 640x640 input
	{"blazeface-front-128", "blazeface", 6},                   // split outputs (npm Barracuda export)
	{"blazeface-back-256", "blazeface", 6},                    // split outputs
	{"mediapipe-blazeface-short-128-tf2onnx", "blazeface", 6}, // merged outputs (tf2onnx)
	{"mediapipe-blazeface-full-192-tf2onnx", "blazeface", 6},  // merged outputs, one 48x48 anchor layer
}

func TestAdaptersOnRealPhotos(t *testing.T) {
	rt := newRuntime(t)
	for _, fm := range faceModels {
		t.Run(fm.name, func(t *testing.T) {
			m := load(t, rt, modelDir(t, fm.name), infer.LoadOptions{})
			if got := m.Info().Adapter; got != fm.adapter {
				t.Fatalf("adapter %q, want %q", got, fm.adapter)
			}
			for _, pc := range adapterPhotos {
				t.Run(pc.photo, func(t *testing.T) {
					dets, err := m.Detect(readPhoto(t, pc.photo))
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("threshold %.2f:%s", m.Info().Threshold, fmtDets(dets))
					matchFaces(t, dets, pc.faces)
					for _, d := range dets {
						if d.Label != "face" || len(d.Keypoints) != fm.keypoints {
							t.Errorf("detection %q with %d keypoints, want \"face\" with %d", d.Label, len(d.Keypoints), fm.keypoints)
						}
					}
					if len(pc.faces) == 1 && len(dets) == 1 {
						d := dets[0]
						cx, cy := int((d.Box.X1+d.Box.X2)/2), int((d.Box.Y1+d.Box.Y2)/2)
						if !image.Pt(cx, cy).In(pc.centre) {
							t.Errorf("face centre (%d, %d) is outside %v", cx, cy, pc.centre)
						}
						// Both adapters give the eyes first (the subject's
						// right eye, on the image's left, then the left).
						tol := 0.1 * float64(pc.faces[0].W())
						for k, e := range pc.eyes {
							p := d.Keypoints[k]
							if dist := math.Hypot(float64(p.X-e.X), float64(p.Y-e.Y)); dist > tol {
								t.Errorf("keypoint %d (%.0f, %.0f) is %.0f px from the eye at (%.0f, %.0f), want at most %.0f", k, p.X, p.Y, dist, e.X, e.Y, tol)
							}
						}
					}
				})
			}
		})
	}
}

// matchFaces checks that dets are exactly the faces, each matched to a
// distinct detection with IoU above minIoU.
func matchFaces(t *testing.T, dets []convert.Detection, faces []convert.Box) {
	t.Helper()
	if len(dets) != len(faces) {
		t.Errorf("found %d faces, want %d", len(dets), len(faces))
	}
	used := make([]bool, len(dets))
	for _, f := range faces {
		best, bestIoU := -1, float32(0)
		for i, d := range dets {
			if iou := convert.IoU(d.Box, f); !used[i] && iou > bestIoU {
				best, bestIoU = i, iou
			}
		}
		if best < 0 || bestIoU <= minIoU {
			t.Errorf("face %v: no detection overlaps it (best IoU %.2f, want > %.2f)", f, bestIoU, minIoU)
			continue
		}
		used[best] = true
	}
}

// TestYuNetSmallFaces: YuNet at the photo's own size finds small faces.
func TestYuNetSmallFaces(t *testing.T) {
	m := load(t, newRuntime(t), modelDir(t, "yunet-n-dynamic"), infer.LoadOptions{})
	t.Run("messi5.jpg", func(t *testing.T) {
		dets, err := m.Detect(readPhoto(t, "faces/messi5.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s", fmtDets(dets))
		found := false
		for _, d := range dets {
			found = found || convert.IoU(d.Box, messiFace) > 0.5
		}
		if !found {
			t.Errorf("no detection overlaps the face %v by more than 0.5:%s", messiFace, fmtDets(dets))
		}
	})
	t.Run("crowd_uf1.jpg", func(t *testing.T) {
		dets, err := m.Detect(readPhoto(t, "faces/crowd_uf1.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		// About 50 faces of some 25 px; 52 found when this was written.
		if len(dets) < 40 {
			t.Errorf("found %d faces, want at least 40", len(dets))
		}
	})
}

// TestTFODAdapterOnRealPhoto covers the TF OD API adapter. No real TF OD API
// export is available here, so it runs end to end through the mock model
// (mock.Write, which has a TF OD API export's signature) on a real
// photo with a pure-red patch painted on: each detection's score must be
// the fraction of pure-red pixels in its region, counted here in Go.
func TestTFODAdapterOnRealPhoto(t *testing.T) {
	m := load(t, newRuntime(t), mockDir(t), infer.LoadOptions{Threshold: 0.01})
	if got := m.Info().Adapter; got != "tfod" {
		t.Fatalf("adapter %q, want tfod", got)
	}
	src := readPhoto(t, "faces/astronaut.png")
	img := src.Clone()
	defer img.Close()
	w, h := img.Cols(), img.Rows()
	paint(img, image.Rect(10, 20, 110, 84), redB, redG, redR) // inside the top-left quadrant

	countRed := func(img gocv.Mat, r image.Rectangle) int {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				v := img.GetVecbAt(y, x)
				if v[0] == redB && v[1] == redG && v[2] == redR {
					n++
				}
			}
		}
		return n
	}
	for _, tc := range []struct {
		name string
		img  gocv.Mat
	}{{"photo", src}, {"photo with a red patch", img}} {
		t.Run(tc.name, func(t *testing.T) {
			whole := image.Rect(0, 0, w, h)
			quad := image.Rect(0, 0, w/2, h/2)
			want := map[convert.Box]float32{}
			for _, r := range []image.Rectangle{whole, quad} {
				if s := float32(countRed(tc.img, r)) / float32(r.Dx()*r.Dy()); s >= 0.01 {
					want[convert.Box{X1: float32(r.Min.X), Y1: float32(r.Min.Y), X2: float32(r.Max.X), Y2: float32(r.Max.Y)}] = s
				}
			}
			dets, err := m.Detect(tc.img)
			if err != nil {
				t.Fatal(err)
			}
			if len(dets) != len(want) {
				t.Fatalf("got%s\nwant %v", fmtDets(dets), want)
			}
			for _, d := range dets {
				s, ok := want[d.Box]
				if !ok || fmt.Sprintf("%.6f", d.Score) != fmt.Sprintf("%.6f", s) || d.Label != "red" || d.Class != 0 {
					t.Errorf("unexpected detection %q class %d score %.6f box %v; want %v", d.Label, d.Class, d.Score, d.Box, want)
				}
			}
		})
	}
}

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
	astronautFaces = convert.Box{X1: 183, Y1: 80, X2: 270, Y2: 180}
	// faces/group_uf2.jpg, 1024x484, left to right.
	groupUF2Faces = []convert.Box{
		{X1: 132, Y1: 107, X2: 220, Y2: 238},
		{X1: 303, Y1: 100, X2: 400, Y2: 225},
		{X1: 548, Y1: 85, X2: 652, Y2: 212},
		{X1: 720, Y1: 135, X2: 835, Y2: 267},
	}
	// faces/portrait_mpface.jpg, 474x503: from under the hat brim.
	portraitFaces = convert.Box{X1: 145, Y1: 165, X2: 310, Y2: 372}
	// plates/*.jpg: the one plate on each.
	platesOnPhotos = map[string]convert.Box{
		"plates/lp_0.jpg":  {X1: 204, Y1: 455, X2: 399, Y2: 620}, // 720x1160, slanted
		"plates/lp_11.jpg": {X1: 362, Y1: 324, X2: 486, Y2: 371}, // 640x474
		"plates/lp_2.jpg":  {X1: 259, Y1: 506, X2: 393, Y2: 557}, // 720x1160
	}
)

// minFaceIoU is the overlap a face detection must have with a hand-measured
// face. Models draw faces differently (mpface's square box reaches below
// the chin); the lowest seen on these photos is 0.60 (mpface, group_uf2).
const minFaceIoU = 0.5

// loadCatalogueModel installs the catalogue model name from ../shared/models into a
// temporary folder (edit, when not nil, changes its entry first), loads it,
// and closes it when the test ends.
func loadCatalogueModel(t *testing.T, rt *infer.Runtime, name string, edit func(*models.Entry)) *infer.Model {
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

// detectPhoto reads the photo rel under ../shared/data and runs m on it.
func detectPhoto(t *testing.T, m *infer.Model, rel string) []convert.Detection {
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
	t.Logf("%s at %.2f: %d found%s", rel, m.Info().Threshold, len(dets), fmtDets(dets))
	return dets
}

// matchBoxes matches each want box to a distinct detection for which
// ok(detection box, want box) holds, best score of fit first; it reports
// the boxes left without one.
func matchBoxes(t *testing.T, dets []convert.Detection, want []convert.Box, what string, fit func(d, w convert.Box) float32, minFit float32) {
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
	rt := newRuntime(t)
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
		{"faces/astronaut.png", []convert.Box{astronautFaces}},
		{"faces/group_uf2.jpg", groupUF2Faces},
		{"faces/portrait_mpface.jpg", []convert.Box{portraitFaces}},
		{"plates/lp_0.jpg", nil},
		{"plates/lp_11.jpg", nil},
		{"plates/lp_2.jpg", nil},
	}
	for _, fm := range faceModels {
		t.Run(fm.name, func(t *testing.T) {
			m := loadCatalogueModel(t, rt, fm.name, nil)
			if got := m.Info().Adapter; got != fm.adapter {
				t.Fatalf("adapter %q, want %q", got, fm.adapter)
			}
			for _, ph := range photos {
				t.Run(filepath.Base(ph.rel), func(t *testing.T) {
					dets := detectPhoto(t, m, ph.rel)
					if len(dets) != len(ph.faces) {
						t.Errorf("found %d faces, want %d", len(dets), len(ph.faces))
					}
					matchBoxes(t, dets, ph.faces, "face", convert.IoU, minFaceIoU)
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
							if !nearAnyBox(p, ph.faces, 0.2) {
								t.Errorf("keypoint %d (%.0f, %.0f) is on no face", k, p.X, p.Y)
							}
						}
					}
				})
			}
		})
	}
}

// nearAnyBox reports whether p lies in one of boxes, each grown by frac of its
// size on every side.
func nearAnyBox(p convert.Point, boxes []convert.Box, frac float32) bool {
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
	rt := newRuntime(t)
	for _, name := range []string{"lpd-yunet-2023mar", "lpd-yunet-2023mar-int8"} {
		t.Run(name, func(t *testing.T) {
			m := loadCatalogueModel(t, rt, name, nil)
			if got := m.Info().Adapter; got != "lpd_yunet" {
				t.Fatalf("adapter %q, want lpd_yunet", got)
			}
			for _, rel := range []string{"plates/lp_0.jpg", "plates/lp_11.jpg", "plates/lp_2.jpg"} {
				t.Run(filepath.Base(rel), func(t *testing.T) {
					plate := platesOnPhotos[rel]
					dets := detectPhoto(t, m, rel)
					if len(dets) == 0 {
						t.Fatalf("no plate found, want the one at %v", plate)
					}
					matchBoxes(t, dets[:1], []convert.Box{plate}, "plate", convert.IoU, 0.5)
					for _, d := range dets {
						if d.Label != "plate" || len(d.Keypoints) != 4 {
							t.Errorf("detection %q with %d keypoints, want \"plate\" with its 4 corners", d.Label, len(d.Keypoints))
						}
						// The corners lie on the plate (give or take 15% of
						// its size: on the slanted plate of lp_0 the model
						// puts one corner 17 px above it), inside the box.
						b := d.Box
						for k, p := range d.Keypoints {
							if !nearAnyBox(p, []convert.Box{plate}, 0.15) {
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
					if dets := detectPhoto(t, m, rel); len(dets) != 0 {
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
	rt := newRuntime(t)
	t.Run("body", func(t *testing.T) {
		m := loadCatalogueModel(t, rt, "nanodet-m-416-coco", nil)
		if got := m.Info().Adapter; got != "nanodet" {
			t.Fatalf("adapter %q, want nanodet", got)
		}
		if hide := m.Info().Hide; len(hide) != 1 || hide[0] != "person" {
			t.Fatalf("hides %q, want only person", hide)
		}
		dets := detectPhoto(t, m, "faces/group_uf2.jpg")
		if len(dets) != 4 {
			t.Errorf("found %d people, want 4", len(dets))
		}
		// Each face is inside its own body box (the box whose centre is
		// nearest the face's, among those holding 90% of it).
		matchBoxes(t, dets, groupUF2Faces, "face", func(d, w convert.Box) float32 {
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
			if dets := detectPhoto(t, m, rel); len(dets) != 0 {
				t.Errorf("%s: found %d people on a photo without any", rel, len(dets))
			}
		}
	})
	t.Run("head", func(t *testing.T) {
		m := loadCatalogueModel(t, rt, "nanodet-m-416-coco", func(e *models.Entry) {
			o := e.Options.(convert.NanoDetOptions)
			o.PersonRegion = "head"
			e.Options = o
		})
		dets := detectPhoto(t, m, "faces/group_uf2.jpg")
		// Four heads; NMS now runs on the head regions, which may keep a
		// box spanning two people that NMS on the bodies drops (5 here).
		if len(dets) < 4 {
			t.Errorf("found %d heads, want 4 or more", len(dets))
		}
		matchBoxes(t, dets, groupUF2Faces, "face", func(d, w convert.Box) float32 {
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
