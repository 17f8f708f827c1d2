package video

import (
	"image"
	"math"
	"sync"
	"sync/atomic"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
)

// A detection schedule for big frames. A frame shrunk so that its longer
// side is detect_max_side (640) keeps faces big enough to recognise, but a
// 30-px face of a 1080p frame is 10 px there, under what a detector finds;
// detecting the whole 1080p frame at full size costs about nine times as
// much, more than real time on a small CPU can pay. So each frame gets:
//
//   - the whole frame, shrunk to maxSide (every face of a good size, every
//     frame);
//   - one square tile of the frame at full resolution, the tiles visited in
//     rotation, so that every part of the frame is seen at full size once
//     every len(tiles) frames. Its small detections are marked with
//     Revisit = len(tiles): the tracker keeps hiding them until the tile
//     comes round again, and in files look-ahead covers the frames before
//     a face's first visit (Schedule.Period sizes both).
//
// Tiles overlap by an eighth of their side, so a face up to that size lies
// whole in one, and only faces up to that size (or up to what the shrunk
// frame makes too small to find, in a 4K frame or a panorama strip) are
// taken from tiles; larger ones come from the whole-frame pass, which
// finds them at a third of their size in 1080p.
type Schedule struct {
	det      Detector
	whole    Detector // det on the frame shrunk to maxSide
	maxSide  int
	tileSide int
	next     atomic.Uint64 // the tile of the next frame, mod the count

	mu     sync.Mutex
	layout tileLayout // the tiles of the last frame size: a video's frames share one
}

// tileLayout is the tiles of one frame size.
type tileLayout struct {
	size  image.Point
	tiles []image.Rectangle
}

// DefaultTileSide is the side of the full-size tiles (video.tile_side).
const DefaultTileSide = 640

// NewSchedule runs det on each frame as the schedule above says: maxSide
// for the whole-frame pass (0: the frame at full size, and no tiles), and
// tiles of tileSide source pixels (0: none).
func NewSchedule(det Detector, maxSide, tileSide int) *Schedule {
	return &Schedule{det: det, whole: Shrink(det, maxSide), maxSide: maxSide, tileSide: tileSide}
}

// Info names the detector.
func (s *Schedule) Info() convert.ModelInfo { return s.det.Info() }

// Detect is DetectInfo without the Info.
func (s *Schedule) Detect(img gocv.Mat) ([]convert.Detection, error) {
	d, _, err := s.DetectInfo(img)
	return d, err
}

// DetectInfo runs the whole-frame pass and the next tile on img.
func (s *Schedule) DetectInfo(img gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	dets, info, err := s.whole.DetectInfo(img)
	tiles := s.frameTiles(img.Cols(), img.Rows())
	if err != nil || len(tiles) == 0 {
		return dets, info, err
	}
	t := tiles[(s.next.Add(1)-1)%uint64(len(tiles))]
	region := img.Region(t)
	defer region.Close()
	small, _, err := detectScaled(s.det, region, 1)
	if err != nil {
		return nil, info, err
	}
	small = tileKeep(small, t, img.Cols(), img.Rows(), len(tiles), s.tileMaxFace(img.Cols(), img.Rows()))
	return mergeTile(dets, small), info, nil
}

// frameTiles is Tiles(w, h), laid out once per frame size.
func (s *Schedule) frameTiles(w, h int) []image.Rectangle {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sz := image.Pt(w, h); s.layout.size != sz || s.layout.tiles == nil {
		s.layout = tileLayout{sz, s.Tiles(w, h)}
	}
	return s.layout.tiles
}

// Revisits tells whether the schedule tiles frames (bigger than maxSide),
// marking the tiles' detections with Revisit.
func (s *Schedule) Revisits() bool { return s.tileSide > 0 && s.maxSide > 0 }

// Period is how many frames the schedule takes to see every part of a w x
// h frame at full size (0: it does at every frame, or never tiles).
func (s *Schedule) Period(w, h int) int { return len(s.Tiles(w, h)) }

// Tiles lays out the tiles of a w x h frame: none when the frame is not
// shrunk for the whole-frame pass, or tiles are off.
func (s *Schedule) Tiles(w, h int) []image.Rectangle {
	if s.tileSide <= 0 || s.maxSide <= 0 || max(w, h) <= s.maxSide {
		return nil
	}
	xs, ys := tileStarts(w, s.tileSide), tileStarts(h, s.tileSide)
	tw, th := min(s.tileSide, w), min(s.tileSide, h)
	var out []image.Rectangle
	for _, y := range ys {
		for _, x := range xs {
			out = append(out, image.Rect(x, y, x+tw, y+th))
		}
	}
	return out
}

// tileStarts spreads tiles of side t evenly over n pixels, overlapping by
// at least t/8.
func tileStarts(n, t int) []int {
	if t >= n {
		return []int{0}
	}
	ov := t / 8
	k := int(math.Ceil(float64(n-ov) / float64(t-ov)))
	out := make([]int, k)
	for i := range k {
		out[i] = int(math.Round(float64(i) * float64(n-t) / float64(k-1)))
	}
	return out
}

// wholeMinFace is the height, in the pixels of the shrunk frame, under
// which the whole-frame pass is not counted on to find a face: an 80-px
// face of a 1080p frame is 27 px at 640.
const wholeMinFace = 80.0 / 3

// tileMaxFace is the tallest face taken from a tile of a w x h frame: at
// least the tiles' overlap (an eighth of tile_side), so that any face the
// tiles are for lies whole in one, and every face the shrunk frame makes
// smaller than wholeMinFace (a 4K frame shrinks 6 times, a 4000x100 strip
// 6.25: its 60-px faces are the tiles', though its tiles are 100 px tall).
// Taller ones are the whole-frame pass's, and a tall false box in a tile,
// kept until the tile comes round, would hide a lot.
func (s *Schedule) tileMaxFace(w, h int) float32 {
	shrink := float32(max(w, h)) / float32(s.maxSide)
	return max(float32(s.tileSide/8), wholeMinFace*shrink)
}

// tileKeep maps a tile's detections to frame pixels and keeps the small
// ones not cut by an inner edge of the tile (the whole-frame pass finds
// the others), marked to be kept until the tile's next visit.
func tileKeep(dets []convert.Detection, t image.Rectangle, w, h, period int, maxFace float32) []convert.Detection {
	ox, oy := float32(t.Min.X), float32(t.Min.Y)
	out := dets[:0]
	for _, d := range dets {
		b := convert.Box{X1: d.Box.X1 + ox, Y1: d.Box.Y1 + oy, X2: d.Box.X2 + ox, Y2: d.Box.Y2 + oy}
		const e = 2
		cut := (t.Min.X > 0 && b.X1 <= float32(t.Min.X+e)) || (t.Min.Y > 0 && b.Y1 <= float32(t.Min.Y+e)) ||
			(t.Max.X < w && b.X2 >= float32(t.Max.X-e)) || (t.Max.Y < h && b.Y2 >= float32(t.Max.Y-e))
		if cut || b.H() > maxFace {
			continue
		}
		d.Box = b
		for k := range d.Keypoints {
			d.Keypoints[k].X += ox
			d.Keypoints[k].Y += oy
		}
		d.Revisit = period
		out = append(out, d)
	}
	return out
}

// mergeTile adds the tile's detections to the whole frame's: one found by
// both stays one, the better-scored box, marked for revisiting.
func mergeTile(full, tile []convert.Detection) []convert.Detection {
	out := full
	for _, td := range tile {
		dup := false
		for i := range full {
			f := &out[i]
			if f.Label != td.Label || convert.IoU(f.Box, td.Box) <= 0.3 {
				continue
			}
			dup = true
			if td.Score > f.Score {
				*f = td
			}
			f.Revisit = td.Revisit
		}
		if !dup {
			out = append(out, td)
		}
	}
	return out
}
