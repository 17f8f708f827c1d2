package convert

import (
	"fmt"
	"math"
	"slices"
)

// nanoDet decodes NanoDet (RangiLyu/nanodet, legacy v0.x GFL head, e.g.
// nanodet-m-416 as in OpenCV Zoo's object_detection_nanodet_2022nov.onnx):
// for each stride s, a ceil(H/s) x ceil(W/s) feature map, row-major, with
//
//	scores [1, N, C]           class scores, sigmoid applied
//	boxes  [1, N, 4*(R+1)]     distances to the left, top, right and bottom
//	                           sides, each as R+1 logits over bins 0..R
//	                           (R = reg_max, 7 in NanoDet-m; read from the
//	                           output's shape)
//
// Cell (x, y) is centred at (x*s + (s-1)/2, y*s + (s-1)/2) (opencv_zoo
// nanodet.py, hpc203 main_nanodet.py); a side's distance is the
// expectation of the softmax over its bins, times s; box = (cx-l, cy-t,
// cx+r, cy+b). Class = argmax, score = its value.
//
// With PersonRegion "head", detections labelled "person" get HeadBox of
// their box instead.
type nanoDet struct {
	scores, boxes []string
	strides       []int
	labels        []string
	head          bool
	inW, inH      int // fixed input size, 0 when dynamic
}

func init() { Register("nanodet", newNanoDet) }

// NanoDetOptions are the nanodet adapter's options, a manifest's [nanodet].
type NanoDetOptions struct {
	// Scores and Boxes name the class-score and box-distribution outputs,
	// one per stride, in the order of Strides (default 8, 16, 32). Both
	// are required.
	Scores  []string `toml:"scores,omitempty"`
	Boxes   []string `toml:"boxes,omitempty"`
	Strides []int    `toml:"strides,omitempty"`
	// PersonRegion is what of a detected person is returned: "body" (the
	// detected box; the default) or "head" (HeadBox of it).
	PersonRegion string `toml:"person_region,omitempty"`
}

func (o NanoDetOptions) strides() []int {
	if len(o.Strides) == 0 {
		return []int{8, 16, 32}
	}
	return o.Strides
}

// Validate checks the outputs, one score and one box output per stride,
// and person_region.
func (o NanoDetOptions) Validate() error {
	if len(o.Scores) == 0 || len(o.Boxes) == 0 {
		return fmt.Errorf("nanodet: scores and boxes are required")
	}
	strides := o.strides()
	for _, s := range strides {
		if s <= 0 {
			return fmt.Errorf("nanodet: stride %d: must be positive", s)
		}
	}
	ns, nb := len(o.Scores), len(o.Boxes)
	if ns != len(strides) || nb != len(strides) {
		return fmt.Errorf("nanodet: %d score outputs and %d box outputs for %d strides: want one of each per stride", ns, nb, len(strides))
	}
	if err := uniqueNames("nanodet", o.Scores, o.Boxes); err != nil {
		return err
	}
	switch o.PersonRegion {
	case "", "body", "head":
	default:
		return fmt.Errorf("nanodet: person_region %q: want \"body\" or \"head\"", o.PersonRegion)
	}
	return nil
}

// DefaultHide is what a nanodet model hides when its manifest names no
// labels to hide: a COCO-style detector hides people, not every object it
// knows (nil: every label).
func (o NanoDetOptions) DefaultHide(labels []string) []string {
	if slices.Contains(labels, "person") {
		return []string{"person"}
	}
	return nil
}

func newNanoDet(cfg Config, o NanoDetOptions) (Decoder, error) {
	if len(cfg.Labels) == 0 {
		return nil, fmt.Errorf("nanodet: no labels: name every class the model scores")
	}
	return &nanoDet{
		scores:  append([]string(nil), o.Scores...),
		boxes:   append([]string(nil), o.Boxes...),
		strides: append([]int(nil), o.strides()...),
		labels:  append([]string(nil), cfg.Labels...),
		inW:     cfg.InputW,
		inH:     cfg.InputH,
		head:    o.PersonRegion == "head",
	}, nil
}

// Outputs lists the score outputs, then the box outputs, stride by stride;
// N is the cell count when the input size is fixed.
func (d *nanoDet) Outputs() []TensorInfo {
	out := make([]TensorInfo, 2*len(d.strides))
	for i, s := range d.strides {
		n := int64(-1)
		if d.inW > 0 && d.inH > 0 {
			fw, fh := cells(d.inW, d.inH, s)
			n = int64(fw * fh)
		}
		out[i] = TensorInfo{Name: d.scores[i], DType: Float32, Shape: []int64{1, n, int64(len(d.labels))}}
		out[len(d.strides)+i] = TensorInfo{Name: d.boxes[i], DType: Float32, Shape: []int64{1, n, -1}}
	}
	return out
}

// cells is the feature-map size of stride s on a w x h input.
func cells(w, h, s int) (int, int) { return (w + s - 1) / s, (h + s - 1) / s }

func (d *nanoDet) Decode(outs []Output, lb Letterbox, threshold float32) ([]Detection, error) {
	k := len(d.strides)
	if len(outs) != 2*k {
		return nil, fmt.Errorf("nanodet: want %d outputs, got %d", 2*k, len(outs))
	}
	if err := checkLetterbox(lb); err != nil {
		return nil, fmt.Errorf("nanodet: %w", err)
	}
	nc := len(d.labels)
	var dets []Detection
	dist := make([]float32, 4)
	for i, s := range d.strides {
		fw, fh := cells(lb.DstW, lb.DstH, s)
		n := fw * fh
		cls, err := rows(outs[i], d.scores[i], "cells", n, nc)
		if err != nil {
			return nil, fmt.Errorf("nanodet: %w (stride %d on a %dx%d input)", err, s, lb.DstW, lb.DstH)
		}
		// The bins per side (reg_max+1) are what the output holds.
		bo := outs[k+i]
		bins := 0
		if n > 0 && len(bo.Data)%(4*n) == 0 {
			bins = len(bo.Data) / (4 * n)
		}
		if bins < 2 && (bo.Name == "" || bo.Name == d.boxes[i]) {
			return nil, fmt.Errorf("nanodet: output %q: want %d cells of 4 sides of 2 or more bins, got %d values (shape %v; stride %d on a %dx%d input)",
				d.boxes[i], n, len(bo.Data), bo.Shape, s, lb.DstW, lb.DstH)
		}
		reg, err := rows(bo, d.boxes[i], "cells", n, 4*bins)
		if err != nil {
			return nil, fmt.Errorf("nanodet: %w (stride %d on a %dx%d input)", err, s, lb.DstW, lb.DstH)
		}
		sf, half := float32(s), float32(s-1)/2
		for j := range n {
			c := cls[nc*j : nc*(j+1)]
			best := 0
			for m := 1; m < nc; m++ {
				if c[m] > c[best] || c[best] != c[best] { // a NaN never wins
					best = m
				}
			}
			score := c[best]
			if !(score >= threshold) { // also drops NaN
				continue
			}
			r := reg[4*bins*j : 4*bins*(j+1)]
			for side := range 4 {
				dist[side] = expectation(r[bins*side:bins*(side+1)]) * sf
			}
			cx, cy := float32(j%fw)*sf+half, float32(j/fw)*sf+half
			det := Detection{
				Box:   lb.mapBox(Box{cx - dist[0], cy - dist[1], cx + dist[2], cy + dist[3]}),
				Score: score,
				Class: best,
				Label: d.labels[best],
			}
			if d.head && det.Label == "person" {
				det.Box = HeadBox(det.Box)
			}
			dets = append(dets, det)
		}
	}
	return dets, nil
}

// expectation is sum(i * softmax(logits)[i]).
func expectation(logits []float32) float32 {
	hi := logits[0]
	for _, v := range logits[1:] {
		hi = max(hi, v)
	}
	var sum, acc float64
	for i, v := range logits {
		e := math.Exp(float64(v - hi))
		sum += e
		acc += float64(i) * e
	}
	return float32(acc / sum)
}

// HeadHeightOfWidth sets the head region of a person box: the top of the
// box, HeadHeightOfWidth times the box width high (at most the whole box),
// over the full width.
//
// The width, not the height, sets it, because person boxes are often cut
// by the frame or by other people (portraits, group photos, crowds) and
// then the height says little of where the head ends, while the shoulders'
// width still does. Measured with nanodet-m-416-coco on 113 real photos
// (the 9 PASCAL VOC and 101 WIDER FACE photos of ../shared/data with their
// hand-labelled faces, and group_uf2, portrait_mpface, astronaut): of the
// 662 faces of 24 px and more that lie inside a detected person box, the
// top 0.8 x width covers 92.6% (at least 90% of the face area inside),
// with 44% of the body box's area on average; 0.6 x width covers 76.6%,
// the top quarter of the height 54.7%, the top third 73.1%, the top half
// 92.7% with 50% of the area. On a standing full-length person (box about
// three times as high as wide) 0.8 x width is the top quarter: head and
// shoulders.
const HeadHeightOfWidth = 0.8

// HeadBox is the head region of a person's body box b (see
// HeadHeightOfWidth).
func HeadBox(b Box) Box {
	h := min(b.H(), HeadHeightOfWidth*b.W())
	return Box{b.X1, b.Y1, b.X2, b.Y1 + h}
}
