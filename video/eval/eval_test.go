package eval

import (
	"context"
	"image"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
	modelmock "github.com/anonymize/anonymize/models/mock"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

func evalRuntime(t *testing.T) *infer.Runtime {
	t.Helper()
	rt, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Providers: []string{"cpu"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// writeRedPNG writes a w x h grey PNG with rect painted pure red.
func writeRedPNG(t *testing.T, path string, w, h int, rect image.Rectangle) {
	t.Helper()
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 90, 90, 0), h, w, gocv.MatTypeCV8UC3)
	defer img.Close()
	if !rect.Empty() {
		r := img.Region(rect)
		r.SetTo(gocv.NewScalar(0, 0, 255, 0))
		r.Close()
	}
	if !gocv.IMWrite(path, img) {
		t.Fatalf("write %s", path)
	}
}

// loadMock writes the mock model under dir and loads it; it is closed
// when the test ends.
func loadMock(t *testing.T, dir string) *infer.Model {
	t.Helper()
	mock := filepath.Join(dir, "mock")
	if err := modelmock.Write(mock); err != nil {
		t.Fatal(err)
	}
	m, err := evalRuntime(t).Load(mock, infer.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestEvaluateMockKnownAnswer: with the mock model (detection 0 = the whole
// image, detection 1 = the top-left quadrant, scored by their share of pure
// red) and box masks at scale 1, recall and over-hiding are known exactly.
func TestEvaluateMockKnownAnswer(t *testing.T) {
	dir := t.TempDir()
	m := loadMock(t, dir)
	imgs := filepath.Join(dir, "imgs")
	os.MkdirAll(filepath.Join(imgs, "sub"), 0o755)
	const w, h = 100, 80
	writeRedPNG(t, filepath.Join(imgs, "all.png"), w, h, image.Rect(0, 0, w, h))
	writeRedPNG(t, filepath.Join(imgs, "sub", "quad.png"), w, h, image.Rect(0, 0, w/2, h/2))
	writeRedPNG(t, filepath.Join(imgs, "none.png"), w, h, image.Rectangle{})
	b := func(x1, y1, x2, y2 float32) convert.Box { return convert.Box{X1: x1, Y1: y1, X2: x2, Y2: y2} }
	labels := Labels{
		"all.png": {b(10, 10, 30, 30)}, // under the whole-image mask: hidden
		"sub/quad.png": {
			b(10, 10, 20, 20), // inside the quadrant mask: hidden
			b(60, 50, 80, 70), // outside: visible
			b(40, 30, 60, 50), // a quarter covered: visible
		},
		"none.png": {b(10, 10, 30, 30)}, // nothing detected
	}
	r, err := Run(context.Background(), m, imgs, labels, Options{Hide: hide.Options{Style: hide.Solid, Shape: hide.Box, MaskScale: 1}, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if r.Images != 3 || r.Faces != 5 {
		t.Fatalf("images %d faces %d, want 3 and 5", r.Images, r.Faces)
	}
	if !near(r.Recall, 0.4) || !near(r.Recall80, 0.4) {
		t.Errorf("recall %v / %v, want 0.4 and 0.4", r.Recall, r.Recall80)
	}
	// all.png: whole image masked, 8000 px; allowed: face grown 1.5x =
	// [5,35) x [5,35) = 900 px -> 7100/8000. quad.png: quadrant 2000 px,
	// allowed inside it 16x16 + 15x15 = 481 -> 1519/8000. none.png: 0.
	want := (7100.0/8000 + 1519.0/8000 + 0) / 3
	if !near(r.OverHiding, want) {
		t.Errorf("over-hiding %v, want %v", r.OverHiding, want)
	}
	var b10, b20 Bucket
	for _, bk := range r.Buckets {
		switch bk.Name {
		case "10-19":
			b10 = bk
		case "20-49":
			b20 = bk
		}
	}
	if b10.Faces != 1 || b10.Hidden != 1 || b20.Faces != 4 || b20.Hidden != 1 {
		t.Errorf("buckets 10-19 %+v, 20-49 %+v; want 1/1 and 4/1", b10, b20)
	}
	if len(r.Missed) != 3 {
		t.Errorf("%d missed faces listed, want 3", len(r.Missed))
	}
	for _, ms := range r.Missed {
		if ms.Image == "sub/quad.png" && ms.Box == b(40, 30, 60, 50) && !near(ms.Coverage, 0.25) {
			t.Errorf("straddling face covered %v, want 0.25", ms.Coverage)
		}
	}
}

func TestLoadLabels(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "b.json")
	os.WriteFile(js, []byte(`{"a/x.jpg": [[1, 2, 11, 22]], "y.jpg": []}`), 0o644)
	l, err := LoadLabels(js)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || len(l["a/x.jpg"]) != 1 || l["a/x.jpg"][0] != (convert.Box{X1: 1, Y1: 2, X2: 11, Y2: 22}) {
		t.Errorf("json labels %+v", l)
	}
	wider := filepath.Join(dir, "w.txt")
	os.WriteFile(wider, []byte("0--Parade/a.jpg\n2\n10 20 30 40 0 0 0 0 0 0 \n5 5 8 8 0 0 0 1 0 0 \n1--Handshaking/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \n"), 0o644)
	l, err = LoadLabels(wider)
	if err != nil {
		t.Fatal(err)
	}
	if got := l["0--Parade/a.jpg"]; len(got) != 1 || got[0] != (convert.Box{X1: 10, Y1: 20, X2: 40, Y2: 60}) {
		t.Errorf("WIDER boxes %+v, want one (the invalid one left out)", got)
	}
	if got, ok := l["1--Handshaking/b.jpg"]; !ok || len(got) != 0 {
		t.Errorf("image without faces: %+v %v", got, ok)
	}
	for _, bad := range []string{`{"x.jpg": [[1, 2, 3]]}`, `{"x.jpg": [[5, 5, 1, 1]]}`, "x.jpg\nmany\n", "x.jpg\n1\n1 2\n"} {
		p := filepath.Join(dir, "bad")
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := LoadLabels(p); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestTilingFindsSmallFace: a face too small for a fixed-size model's
// whole-frame pass (the frame is shrunk 4x to fit its input) is found by the
// tiles, which see it at native resolution.
func TestTilingFindsSmallFace(t *testing.T) {
	rt := evalRuntime(t)
	cat, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	e, _ := cat.Find("ultraface-rfb-320")
	dir, err := models.Install(e, testenv.Shared(t, "models/ultraface-rfb-320/model.onnx"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A 1280x960 frame with the astronaut's face (about 36 px) pasted in.
	astro, err := imageio.Read(testenv.Shared(t, "data/faces/astronaut.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer astro.Close()
	crop := astro.Region(image.Rect(150, 40, 300, 220)) // face with margin
	defer crop.Close()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(crop, &small, image.Pt(50, 60), 0, 0, gocv.InterpolationArea)
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 130, 140, 0), 960, 1280, gocv.MatTypeCV8UC3)
	defer frame.Close()
	at := frame.Region(image.Rect(700, 500, 750, 560))
	small.CopyTo(&at)
	at.Close()
	face := convert.Box{X1: 700, Y1: 500, X2: 750, Y2: 560}
	found := func(tiles string) bool {
		m, err := rt.Load(dir, infer.LoadOptions{Tiles: tiles})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		dets, err := m.Detect(frame)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dets {
			if convert.IoU(d.Box, face) > 0.2 {
				return true
			}
		}
		return false
	}
	if found("off") {
		t.Fatal("the whole-frame pass already finds the face: the test proves nothing")
	}
	if !found("auto") {
		t.Error("tiles auto did not find the small face")
	}
}
