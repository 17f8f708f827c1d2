package infer

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
)

// The canary: a photo built into the binary with a known face (and person)
// on it, which every model hiding faces or people must find at its own
// threshold before it is put to work. A model that loads and runs but finds
// nothing (wrong weights, a broken export, scores all 0) would otherwise be
// swapped in and hide nothing. canary/ holds the photo, the program that
// made it and its provenance.

//go:embed canary/astronaut.jpg
var canaryJPEG []byte

// canaryPhoto names the built-in photo in messages.
const canaryPhoto = "the built-in photo"

// canaryTargets are the regions on the canary photo (256x256) that a model
// hiding the label must find: a detection of the label whose centre lies
// inside, or whose IoU with it is at least canaryMinIoU. The face is the
// hand-measured box of astronaut.png (infer tests' astronautFace) halved;
// the person reaches from her hair to the bottom edge, flag and helmet
// left out.
var canaryTargets = map[string]convert.Box{
	"face":   {X1: 93.5, Y1: 39, X2: 138.5, Y2: 92.5},
	"person": {X1: 10, Y1: 7, X2: 185, Y2: 256},
}

// canaryMinIoU is the overlap that counts a detection whose centre is not
// inside the target (the same bar as the infer tests' minIoU).
const canaryMinIoU = 0.3

// ErrCanary means a model found nothing on the canary photo that it must
// find: Load refuses it.
var ErrCanary = errors.New("canary")

// Canary is what the canary check of Load saw.
type Canary struct {
	// Found is, per checked label, the best detection that matched.
	Found []CanaryFind
	// Unchecked are the hidden labels that have no canary.
	Unchecked []string
}

// CanaryFind is one label found on the canary photo.
type CanaryFind struct {
	Label string
	Score float32
	IoU   float32 // with the label's known region
}

// String is the check in words, for `models verify`.
func (c Canary) String() string {
	var parts []string
	for _, f := range c.Found {
		parts = append(parts, fmt.Sprintf("found the %s in %s (score %.2f, IoU %.2f)", f.Label, canaryPhoto, f.Score, f.IoU))
	}
	if len(c.Unchecked) > 0 {
		parts = append(parts, fmt.Sprintf("none for %s (only its outputs are checked)", strings.Join(c.Unchecked, ", ")))
	}
	return strings.Join(parts, "; ")
}

// canaryLabels splits the labels hidden into those with a canary target
// and the rest.
func canaryLabels(hide []string) (checked, unchecked []string) {
	for _, h := range hide {
		if _, ok := canaryTargets[h]; ok {
			checked = append(checked, h)
		} else {
			unchecked = append(unchecked, h)
		}
	}
	return checked, unchecked
}

// runCanary runs m through Detect (its threshold, tiles and hidden labels) on
// the canary photo and checks that it finds each hidden label that has a
// target. A model hiding no such label (the mock, plate models) is not run
// on it.
func (m *Model) runCanary() (Canary, error) {
	checked, unchecked := canaryLabels(m.manifest.Hide)
	c := Canary{Unchecked: unchecked}
	if len(checked) == 0 {
		return c, nil
	}
	img, err := gocv.IMDecode(canaryJPEG, gocv.IMReadColor)
	if err != nil || img.Empty() {
		img.Close()
		return c, fmt.Errorf("%w: decode %s: %v", ErrCanary, canaryPhoto, err)
	}
	defer img.Close()
	dets, err := m.Detect(img)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrCanary, err)
	}
	var errs []error
	for _, label := range checked {
		f, best, ok := canaryMatch(dets, label, canaryTargets[label])
		if !ok {
			errs = append(errs, fmt.Errorf("%w: found no %s in %s at threshold %g (%s)", ErrCanary, label, canaryPhoto, m.info.Threshold, best))
			continue
		}
		c.Found = append(c.Found, f)
	}
	return c, errors.Join(errs...)
}

// canaryMatch returns the highest scoring detection of label matching
// target; when there is none, best says what was found instead.
func canaryMatch(dets []convert.Detection, label string, target convert.Box) (f CanaryFind, best string, ok bool) {
	n := 0
	for _, d := range dets {
		if d.Label != label {
			continue
		}
		n++
		iou := convert.IoU(d.Box, target)
		cx, cy := (d.Box.X1+d.Box.X2)/2, (d.Box.Y1+d.Box.Y2)/2
		inside := cx >= target.X1 && cx <= target.X2 && cy >= target.Y1 && cy <= target.Y2
		if (inside || iou >= canaryMinIoU) && (!ok || d.Score > f.Score) {
			f, ok = CanaryFind{Label: label, Score: d.Score, IoU: iou}, true
		}
	}
	if n == 0 {
		return f, "no detection of it at all", ok
	}
	return f, fmt.Sprintf("%d detections of it, none on the known %s", n, label), ok
}

// logNoCanary logs, once per label and runtime, every hidden label that
// has no canary: any label but face and person (no permissively licensed
// photo of a license plate is at hand), so a model that goes unchecked
// never looks checked. Its outputs are still checked at the warm-up.
func (r *Runtime) logNoCanary(unchecked []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range unchecked {
		if r.noCanary[l] {
			continue
		}
		if r.noCanary == nil {
			r.noCanary = map[string]bool{}
		}
		r.noCanary[l] = true
		r.log.Warn("no canary for label "+l+": its models' outputs are checked, not what they find", "label", l)
	}
}
