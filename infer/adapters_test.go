package infer_test

import (
	"fmt"
	"image"
	"math"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
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
