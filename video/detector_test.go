package video

import (
	"math"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
)

// nopDetector finds nothing.
type nopDetector struct{}

func (nopDetector) Detect(gocv.Mat) ([]convert.Detection, error) { return nil, nil }
func (d nopDetector) DetectInfo(m gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	return nil, d.Info(), nil
}
func (nopDetector) Info() convert.ModelInfo { return convert.ModelInfo{Name: "none"} }

// sizeDetector reports one box at fixed pixels of whatever it is given,
// and remembers the size it was given.
type sizeDetector struct {
	nopDetector
	w, h int
}

func (d *sizeDetector) DetectInfo(m gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	d.w, d.h = m.Cols(), m.Rows()
	return []convert.Detection{{Box: convert.Box{X1: 10, Y1: 20, X2: 30, Y2: 40}, Keypoints: []convert.Point{{X: 20, Y: 30}}}}, d.Info(), nil
}

// TestShrinkDetector: big frames reach the detector shrunk to the longer
// side asked for, and its boxes come back in the frame's pixels.
func TestShrinkDetector(t *testing.T) {
	for _, c := range []struct {
		w, h, max, dw, dh int
	}{
		{1920, 1080, 640, 640, 360}, // halved, then linear
		{1280, 720, 640, 640, 360},  // exactly halved
		{3840, 2160, 640, 640, 360}, // halved twice
		{1080, 1920, 640, 360, 640}, // portrait
		{640, 480, 640, 640, 480},   // small enough already
		{1001, 333, 500, 500, 166},  // odd sizes
	} {
		img := gocv.NewMatWithSize(c.h, c.w, gocv.MatTypeCV8UC3)
		inner := &sizeDetector{}
		dets, err := (&shrinkDetector{Detector: inner, maxSide: c.max}).Detect(img)
		img.Close()
		if err != nil || len(dets) != 1 {
			t.Fatalf("%dx%d: %v, %v", c.w, c.h, dets, err)
		}
		if inner.w != c.dw || inner.h != c.dh {
			t.Errorf("%dx%d at most %d: detector saw %dx%d, want %dx%d", c.w, c.h, c.max, inner.w, inner.h, c.dw, c.dh)
		}
		fx, fy := float32(c.w)/float32(c.dw), float32(c.h)/float32(c.dh)
		want := convert.Box{X1: 10 * fx, Y1: 20 * fy, X2: 30 * fx, Y2: 40 * fy}
		if b := dets[0].Box; math.Abs(float64(b.X1-want.X1)) > 1e-3 || math.Abs(float64(b.Y2-want.Y2)) > 1e-3 ||
			math.Abs(float64(dets[0].Keypoints[0].X-20*fx)) > 1e-3 {
			t.Errorf("%dx%d: box %+v, keypoint %+v; want %+v", c.w, c.h, b, dets[0].Keypoints[0], want)
		}
	}
}
