package convert

import (
	"cmp"
	"slices"
)

// IoU is the intersection over union of two boxes: 0 for disjoint or empty
// boxes, 1 for identical non-empty ones.
func IoU(a, b Box) float32 {
	iw := min(a.X2, b.X2) - max(a.X1, b.X1)
	ih := min(a.Y2, b.Y2) - max(a.Y1, b.Y1)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := a.Area() + b.Area() - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// NMS is greedy non-maximum suppression, per Class: detections are visited
// from the highest score down, and each one that is kept suppresses every
// later detection of the same Class whose IoU with it exceeds iou. Detections
// of different classes never suppress each other.
//
// It returns a new slice sorted by descending score; detections with equal
// scores keep their input order. dets is not modified (the returned
// detections share their Keypoints slices with it).
func NMS(dets []Detection, iou float32) []Detection {
	order := scoreOrder(dets)
	suppressed := make([]bool, len(dets))
	out := make([]Detection, 0, len(dets))
	for oi, i := range order {
		if suppressed[i] {
			continue
		}
		d := dets[i]
		out = append(out, d)
		for _, j := range order[oi+1:] {
			if !suppressed[j] && dets[j].Class == d.Class && IoU(d.Box, dets[j].Box) > iou {
				suppressed[j] = true
			}
		}
	}
	return out
}

// MergeAcross joins the detections that several models made of one object:
// greedily from the highest score, a detection absorbs each lower-scored
// one of another model with the same Label whose IoU with it exceeds iou.
// The joined box encloses both, so the mask never shrinks; score, class,
// keypoints and model are the higher-scored one's. Detections of one model
// are left as they are (its own NMS has run). dets is not modified.
func MergeAcross(dets []Detection, iou float32) []Detection {
	order := scoreOrder(dets)
	absorbed := make([]bool, len(dets))
	out := make([]Detection, 0, len(dets))
	for oi, i := range order {
		if absorbed[i] {
			continue
		}
		d := dets[i]
		for _, j := range order[oi+1:] {
			o := dets[j]
			if absorbed[j] || o.Model == dets[i].Model || o.Label != d.Label || IoU(dets[i].Box, o.Box) <= iou {
				continue
			}
			absorbed[j] = true
			d.Box = Box{X1: min(d.Box.X1, o.Box.X1), Y1: min(d.Box.Y1, o.Box.Y1), X2: max(d.Box.X2, o.Box.X2), Y2: max(d.Box.Y2, o.Box.Y2)}
		}
		out = append(out, d)
	}
	return out
}

// scoreOrder lists the indices of dets from the highest score down, equal
// scores in input order. cmp.Compare orders NaN below every number, so NaN
// scores go last.
func scoreOrder(dets []Detection) []int {
	order := make([]int, len(dets))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(dets[b].Score, dets[a].Score)
	})
	return order
}
