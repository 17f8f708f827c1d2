package convert

import (
	"fmt"
	"math"
	"strings"
)

// Band is one step of a size-aware threshold: a detection whose box is
// under MaxHeight pixels tall (0: any height) is kept at Threshold or above.
type Band struct {
	MaxHeight float32 `json:"max_height"`
	Threshold float32 `json:"threshold"`
}

// Bands is a threshold that depends on the height of the box, in the
// pixels of the source image or frame, before any mask scale: a false box
// on a small face hides almost nothing, one on a large face a lot, so small
// boxes can be kept at a lower score than large ones. Bands are in
// ascending MaxHeight; the last has MaxHeight 0 and covers the rest.
type Bands []Band

// ParseBands reads bands as a config writes them: [[20, 0.05], [50, 0.1],
// [0, 0.3]] (height, threshold).
func ParseBands(raw [][]float64) (Bands, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	b := make(Bands, 0, len(raw))
	for i, r := range raw {
		if len(r) != 2 {
			return nil, fmt.Errorf("band %d: want [height, threshold], got %v", i+1, r)
		}
		b = append(b, Band{MaxHeight: float32(r[0]), Threshold: float32(r[1])})
	}
	return b, b.Validate()
}

// Validate checks that heights ascend, the last band is open (0), and every
// threshold is in (0, 1].
func (b Bands) Validate() error {
	for i, x := range b {
		last := i == len(b)-1
		switch {
		case !(x.Threshold > 0 && x.Threshold <= 1):
			return fmt.Errorf("band %d: threshold %g is outside (0, 1] (0 would keep every candidate box: the whole frame hidden)", i+1, x.Threshold)
		case math.IsInf(float64(x.MaxHeight), 0):
			return fmt.Errorf("band %d: height %g is not a number of pixels", i+1, x.MaxHeight)
		case last && x.MaxHeight != 0:
			return fmt.Errorf("band %d: the last band must have height 0 (every box taller than the one before), got %g", i+1, x.MaxHeight)
		case !last && !(x.MaxHeight > 0):
			return fmt.Errorf("band %d: height %g: only the last band may have height 0", i+1, x.MaxHeight)
		case i > 0 && !last && x.MaxHeight <= b[i-1].MaxHeight:
			return fmt.Errorf("band %d: height %g is not above the band before (%g)", i+1, x.MaxHeight, b[i-1].MaxHeight)
		}
	}
	return nil
}

// Min is the lowest threshold of the bands: the score a model must report
// candidates down to.
func (b Bands) Min() float32 {
	m := float32(1)
	for _, x := range b {
		m = min(m, x.Threshold)
	}
	return m
}

// For is the threshold of a box h pixels tall.
func (b Bands) For(h float32) float32 {
	for _, x := range b {
		if x.MaxHeight == 0 || h < x.MaxHeight {
			return x.Threshold
		}
	}
	return 1
}

// Keep filters dets (in place) to those at or above the threshold of their
// height, scale being source pixels per pixel of the boxes.
func (b Bands) Keep(dets []Detection, scale float32) []Detection {
	if len(b) == 0 {
		return dets
	}
	return Filter(dets, func(d Detection) bool { return d.Score >= b.For(d.Box.H()*scale) })
}

// String writes bands as the config does.
func (b Bands) String() string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("[%g, %g]", x.MaxHeight, x.Threshold)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
