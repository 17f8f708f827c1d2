package video

import (
	"image"
	"math"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
)

// Detector finds the regions to hide in a frame. It is the part of a
// detector (such as infer.Model or infer.Set) that video uses.
type Detector interface {
	// Detect returns the detections to hide in img (8-bit BGR), boxes in
	// img's pixels. It is safe for concurrent use.
	Detect(img gocv.Mat) ([]convert.Detection, error)
	// DetectInfo is Detect, also naming the model that did the work (which
	// may change between calls when models are hot-swapped).
	DetectInfo(img gocv.Mat) ([]convert.Detection, convert.ModelInfo, error)
	// Info names the model in use now.
	Info() convert.ModelInfo
}

// ScaledDetector is a Detector that can be told a frame was shrunk:
// scale is source pixels per pixel of img, so size-aware thresholds
// (convert.Bands) apply at the heights the boxes have in the source
// (infer.Model, infer.Set). Boxes stay in img's pixels.
type ScaledDetector interface {
	DetectScaled(img gocv.Mat, scale float32) ([]convert.Detection, convert.ModelInfo, error)
}

// detectScaled runs det on img, the source scaled by 1/scale.
func detectScaled(det Detector, img gocv.Mat, scale float32) ([]convert.Detection, convert.ModelInfo, error) {
	if sd, ok := det.(ScaledDetector); ok {
		return sd.DetectScaled(img, scale)
	}
	return det.DetectInfo(img)
}

// shrinkDetector runs a detector on a smaller copy of big frames and maps
// the boxes back: on a 1080p frame YuNet at full size takes about nine
// times as long as at 640 px, which no real-time budget on a small CPU
// allows, while faces big enough to recognise stay big enough to detect.
type shrinkDetector struct {
	Detector
	maxSide int
}

// Shrink is det run as video frames are: on a copy of each frame whose
// longer side is more than maxSide shrunk to maxSide (0: det itself).
func Shrink(det Detector, maxSide int) Detector {
	if maxSide <= 0 {
		return det
	}
	return &shrinkDetector{Detector: det, maxSide: maxSide}
}

func (d *shrinkDetector) Detect(img gocv.Mat) ([]convert.Detection, error) {
	dets, _, err := d.DetectInfo(img)
	return dets, err
}

func (d *shrinkDetector) DetectInfo(img gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	w, h := img.Cols(), img.Rows()
	if img.Empty() || max(w, h) <= d.maxSide {
		return detectScaled(d.Detector, img, 1)
	}
	s := float64(d.maxSide) / float64(max(w, h))
	sw, sh := max(1, int(math.Round(float64(w)*s))), max(1, int(math.Round(float64(h)*s)))
	small := shrinkFrame(img, sw, sh)
	defer small.Close()
	fx, fy := float32(w)/float32(sw), float32(h)/float32(sh)
	dets, info, err := detectScaled(d.Detector, small, fy)
	for i := range dets {
		b := &dets[i].Box
		b.X1, b.X2, b.Y1, b.Y2 = b.X1*fx, b.X2*fx, b.Y1*fy, b.Y2*fy
		for k := range dets[i].Keypoints {
			dets[i].Keypoints[k].X *= fx
			dets[i].Keypoints[k].Y *= fy
		}
	}
	return dets, info, err
}

// shrinkFrame returns a new Mat of img resized to w x h (smaller): halved by
// area averaging while that does not go below the target (OpenCV's fast
// path, and no aliasing), then linear the rest of the way. At 1080p ->
// 640x360 that costs a third of area averaging all the way, with the
// same smoothing where it matters.
func shrinkFrame(img gocv.Mat, w, h int) gocv.Mat {
	cur := img
	var owned []gocv.Mat
	for cur.Cols()/2 >= w && cur.Rows()/2 >= h {
		half := gocv.NewMat()
		gocv.Resize(cur, &half, image.Pt(cur.Cols()/2, cur.Rows()/2), 0, 0, gocv.InterpolationArea)
		owned = append(owned, half)
		cur = half
	}
	if cur.Cols() == w && cur.Rows() == h && len(owned) > 0 {
		for _, m := range owned[:len(owned)-1] {
			m.Close()
		}
		return cur
	}
	out := gocv.NewMat()
	gocv.Resize(cur, &out, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
	for _, m := range owned {
		m.Close()
	}
	return out
}

// DefaultDetectMaxSide is the longer side video frames are shrunk to for
// detection by default (VideoOptions.DetectMaxSide): see
// docs/BENCHMARKS.md for its cost and what it finds.
const DefaultDetectMaxSide = 640
