package eval

import (
	"context"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/hide"
)

// Three wider-dev photos: one face of 268 px, one of 150 px, and a family
// group.
var videoPhotos = []string{
	"4--Dancing/4_Dancing_Dancing_4_960.jpg",
	"20--Family_Group/20_Family_Group_Family_Group_20_453.jpg",
	"20--Family_Group/20_Family_Group_Family_Group_20_1015.jpg",
}

func widerSubset(t *testing.T, names ...string) (string, Labels) {
	t.Helper()
	all, err := LoadLabels(testenv.Shared(t, "data/faces/wider-dev_boxes.json"))
	if err != nil {
		t.Fatal(err)
	}
	l := Labels{}
	for _, n := range names {
		faces, ok := all[n]
		if !ok {
			t.Fatalf("%s is not labelled in wider-dev", n)
		}
		l[n] = faces
	}
	return testenv.Shared(t, "data/faces/wider-dev"), l
}

// smallClip is how the tests anonymize their clips: 640x360, 3 frames a
// photo, the tracker on (persist and look-ahead 1, so the middle frame is
// still a photo's own), solid ellipses.
func smallClip(hideOpts hide.Options) VideoOptions {
	return VideoOptions{
		Width: 640, Height: 360, FramesPerPhoto: 3,
		File: batch.FileOptions{
			Encode:        ffmpeg.EncodeOptions{Codec: "libx264", Preset: "ultrafast"},
			DetectMaxSide: 640,
			Pipeline:      video.PipelineOptions{Workers: 2, Hide: hideOpts, Persist: 1, Lookahead: 1},
		},
		TempDir: "",
	}
}

var solidEllipse = hide.Options{Style: hide.Solid, Shape: hide.Ellipse, MaskScale: 1.3}

// TestRunVideoHidesBigFaces: wider-dev photos fitted into a 640x360 clip
// and anonymized by AnonymizeFile with the real yunet-n-dynamic: every
// face big in its photo is scored hidden, in the photo's coordinates, and
// the clip's figures add up.
func TestRunVideoHidesBigFaces(t *testing.T) {
	rt := evalRuntime(t)
	m, err := rt.Load(testenv.Model(t, "yunet-n-dynamic"), infer.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir, labels := widerSubset(t, videoPhotos...)
	o := smallClip(solidEllipse)
	o.TempDir = t.TempDir()
	r, err := RunVideo(context.Background(), m, dir, labels, o)
	if err != nil {
		t.Fatal(err)
	}
	faces := 0
	for _, f := range labels {
		faces += len(f)
	}
	v := r.Video
	if r.Images != 3 || r.Faces != faces || v == nil || v.Frames != 9 || v.FramesPerPhoto != 3 || v.FPS <= 0 || len(r.Failed) > 0 {
		t.Fatalf("images %d faces %d (want 3, %d), video %+v, failed %v", r.Images, r.Faces, faces, v, r.Failed)
	}
	for _, ms := range r.Missed {
		if ms.Box.H() >= 100 {
			t.Errorf("face %v (%.0f px high) in %s left visible: covered %.2f", ms.Box, ms.Box.H(), ms.Image, ms.Coverage)
		}
	}
	if b := r.Buckets[len(r.Buckets)-1]; b.Faces < 2 || b.Hidden != b.Faces {
		t.Errorf("150+ px bucket %+v: want both big faces, hidden", b)
	}
	if r.Recall < 0.5 || r.OverHiding > 0.05 {
		t.Errorf("recall %.3f, over-hiding %.4f: want at least 0.5, and under 5%%", r.Recall, r.OverHiding)
	}
	if entries, _ := os.ReadDir(o.TempDir); len(entries) != 0 {
		t.Errorf("%d files left in the temp folder", len(entries))
	}
}

// blind finds nothing.
type blind struct{}

func (blind) Detect(gocv.Mat) ([]convert.Detection, error) { return nil, nil }
func (blind) DetectInfo(gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	return nil, convert.ModelInfo{Name: "blind"}, nil
}
func (blind) Info() convert.ModelInfo { return convert.ModelInfo{Name: "blind"} }

// TestRunVideoBlindDetectorScoresZero: with a detector that finds
// nothing, every face of the clip is missed and nothing is over-hidden.
func TestRunVideoBlindDetectorScoresZero(t *testing.T) {
	dir, labels := widerSubset(t, videoPhotos[0])
	r, err := RunVideo(context.Background(), blind{}, dir, labels, smallClip(solidEllipse))
	if err != nil {
		t.Fatal(err)
	}
	if r.Images != 1 || r.Faces != 1 || r.Recall != 0 || r.OverHiding != 0 || len(r.Missed) != 1 || r.Missed[0].Coverage != 0 {
		t.Errorf("blind detector: images %d faces %d recall %v over-hiding %v missed %+v; want 1 face, missed, nothing masked", r.Images, r.Faces, r.Recall, r.OverHiding, r.Missed)
	}
}

// TestRunVideoOptionsChecked: a frame size or scale out of range is an
// error before anything runs.
func TestRunVideoOptionsChecked(t *testing.T) {
	for _, o := range []VideoOptions{{Width: 0, Height: 360}, {Width: 640, Height: 360, Scale: 1.5}, {Width: 640, Height: 360, Scale: -0.1}} {
		if _, err := RunVideo(context.Background(), blind{}, t.TempDir(), Labels{}, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestScaleShrinksPhotoAndLabels: with Scale 0.5 the mock model sees the
// photo at half size (its red quadrant mask halved) and the labels are
// halved with it: a face inside the quadrant stays hidden only if its box
// was scaled too (unscaled, it would lie right of the half-size quadrant),
// the missed face is reported and bucketed at its halved size, and a face
// under 1 px tall once halved is left out and counted.
func TestScaleShrinksPhotoAndLabels(t *testing.T) {
	dir := t.TempDir()
	m := loadMock(t, dir)
	imgs := filepath.Join(dir, "imgs")
	os.MkdirAll(imgs, 0o755)
	const w, h = 100, 80
	// Red top-left quadrant at both sizes: [0,50)x[0,40), then [0,25)x[0,20).
	writeRedPNG(t, filepath.Join(imgs, "quad.png"), w, h, image.Rect(0, 0, w/2, h/2))
	b := func(x1, y1, x2, y2 float32) convert.Box { return convert.Box{X1: x1, Y1: y1, X2: x2, Y2: y2} }
	labels := Labels{"quad.png": {
		b(30, 22, 44, 36), // halved: [15,22)x[11,18), inside the half-size quadrant [0,25)x[0,20)
		b(60, 50, 80, 70), // halved: [30,40)x[25,35), outside
		b(10, 60, 20, 61), // 1 px tall: 0.5 px halved, left out
	}}
	opts := Options{Hide: hide.Options{Style: hide.Solid, Shape: hide.Box, MaskScale: 1}, Jobs: 1}
	full, err := Run(context.Background(), m, imgs, labels, opts)
	if err != nil {
		t.Fatal(err)
	}
	if full.Faces != 3 || math.Abs(full.Recall-1.0/3) > 1e-9 || full.TooSmall != 0 || full.Scale != 0 {
		t.Fatalf("full size: faces %d recall %v too small %d scale %v; want 3, 1/3, 0, 0", full.Faces, full.Recall, full.TooSmall, full.Scale)
	}
	opts.Scale = 0.5
	r, err := Run(context.Background(), m, imgs, labels, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Faces != 2 || r.TooSmall != 1 || r.Scale != 0.5 || math.Abs(r.Recall-0.5) > 1e-9 {
		t.Errorf("scale 0.5: faces %d too small %d scale %v recall %v; want 2, 1, 0.5, 0.5", r.Faces, r.TooSmall, r.Scale, r.Recall)
	}
	if len(r.Missed) != 1 || r.Missed[0].Box != b(30, 25, 40, 35) {
		t.Errorf("missed %+v, want the halved box [30 25 40 35]", r.Missed)
	}
	// Halved, the faces are 7 px (hidden) and 10 px (missed) high.
	if lt10, b10 := r.Buckets[0], r.Buckets[1]; lt10.Faces != 1 || lt10.Hidden != 1 || b10.Faces != 1 || b10.Hidden != 0 {
		t.Errorf("buckets %+v %+v: want the halved heights, 1/1 under 10 px and 0/1 at 10-19", lt10, b10)
	}
}
