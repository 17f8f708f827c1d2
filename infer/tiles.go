package infer

import (
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
)

// Tiling adds a multi-scale pass for small faces: besides the whole frame,
// the model looks at overlapping tiles, each fed at (about) the model's own
// input resolution (a fixed-size model) or enlarged (a model that takes any
// size), and the detections are merged by NMS. Only small detections are
// taken from tiles, and none cut by a tile's inner edge: large faces come
// from the whole-frame pass.
type Tiling struct {
	Auto       bool
	Rows, Cols int
}

// Overlap is the share of a tile that overlaps its neighbour.
const tileOverlap = 0.2

// maxUpscale caps how much a tile is enlarged for a model of any input size.
const maxUpscale = 2.0

// ParseTiling reads "off" (or ""), "auto" or "RxC" (1..8 each).
func ParseTiling(s string) (Tiling, error) {
	switch s {
	case "", "off":
		return Tiling{}, nil
	case "auto":
		return Tiling{Auto: true}, nil
	}
	r, c, ok := strings.Cut(s, "x")
	rows, err1 := strconv.Atoi(r)
	cols, err2 := strconv.Atoi(c)
	if !ok || err1 != nil || err2 != nil || rows < 1 || cols < 1 || rows > 8 || cols > 8 {
		return Tiling{}, fmt.Errorf("tiles %q: want off, auto or RxC (e.g. 2x3, at most 8x8)", s)
	}
	if rows == 1 && cols == 1 {
		return Tiling{}, nil
	}
	return Tiling{Rows: rows, Cols: cols}, nil
}

// Off reports whether tiling is off.
func (t Tiling) Off() bool { return !t.Auto && t.Rows*t.Cols <= 1 }

func (t Tiling) String() string {
	switch {
	case t.Auto:
		return "auto"
	case t.Off():
		return ""
	}
	return fmt.Sprintf("%dx%d", t.Rows, t.Cols)
}

// tile is one crop and the factor it is enlarged by before detection.
type tile struct {
	r     image.Rectangle
	scale float64
}

// tiles lays out the grid for a w x h frame.
func (m *Model) tileGrid(w, h int) []tile {
	if m.tiles.Off() {
		return nil
	}
	rows, cols := m.tiles.Rows, m.tiles.Cols
	scale := 1.0
	if m.pre.Dynamic() {
		// The model sees the frame at its own size already: tiles help by
		// enlarging. auto: 2x2 tiles at twice the size.
		if m.tiles.Auto {
			rows, cols = 2, 2
		}
		scale = min(maxUpscale, float64(max(rows, cols)))
	} else if m.tiles.Auto {
		// Tiles of the model's input size, at native resolution.
		tw, th := float64(m.pre.Width), float64(m.pre.Height)
		if float64(w) <= 1.5*tw && float64(h) <= 1.5*th {
			return nil // the whole-frame pass already sees it near native size
		}
		cols = max(1, int(math.Ceil((float64(w)-tw*tileOverlap)/(tw*(1-tileOverlap)))))
		rows = max(1, int(math.Ceil((float64(h)-th*tileOverlap)/(th*(1-tileOverlap)))))
		if rows*cols <= 1 {
			return nil
		}
	}
	// Equal tiles that overlap by tileOverlap of their size.
	tw := float64(w) / (float64(cols) - tileOverlap*float64(cols-1))
	th := float64(h) / (float64(rows) - tileOverlap*float64(rows-1))
	var out []tile
	for r := range rows {
		for c := range cols {
			x0 := int(math.Round(float64(c) * tw * (1 - tileOverlap)))
			y0 := int(math.Round(float64(r) * th * (1 - tileOverlap)))
			x1 := min(w, int(math.Round(float64(x0)+tw)))
			y1 := min(h, int(math.Round(float64(y0)+th)))
			if c == cols-1 {
				x1 = w
			}
			if r == rows-1 {
				y1 = h
			}
			if x1-x0 < 8 || y1-y0 < 8 {
				continue
			}
			out = append(out, tile{image.Rect(x0, y0, x1, y1), scale})
		}
	}
	return out
}

// detectTiled is DetectAll over the whole frame plus the tiles, merged.
func (m *Model) detectTiled(img gocv.Mat, threshold float32) ([]convert.Detection, error) {
	all, err := m.DetectAll(img, threshold)
	if err != nil || m.tiles.Off() {
		return all, err
	}
	w, h := img.Cols(), img.Rows()
	ts := m.tileGrid(w, h)
	if len(ts) == 0 {
		return all, nil
	}
	for _, t := range ts {
		dets, err := m.detectTile(img, t, threshold)
		if err != nil {
			return nil, err
		}
		edge := func(b convert.Box) bool {
			const e = 2
			return (t.r.Min.X > 0 && b.X1 <= float32(t.r.Min.X+e)) || (t.r.Min.Y > 0 && b.Y1 <= float32(t.r.Min.Y+e)) ||
				(t.r.Max.X < w && b.X2 >= float32(t.r.Max.X-e)) || (t.r.Max.Y < h && b.Y2 >= float32(t.r.Max.Y-e))
		}
		for _, d := range dets {
			// Small faces only, and none cut by the tile's inner edges.
			if d.Box.H() > float32(t.r.Dy())/2 || edge(d.Box) {
				continue
			}
			all = append(all, d)
		}
	}
	return convert.NMS(all, m.manifest.NMSIoU), nil
}

// detectTile runs the model on one crop, enlarged by t.scale, and maps the
// detections back to frame pixels.
func (m *Model) detectTile(img gocv.Mat, t tile, threshold float32) ([]convert.Detection, error) {
	region := img.Region(t.r)
	defer region.Close()
	src := region
	if t.scale != 1 {
		big := gocv.NewMat()
		defer big.Close()
		gocv.Resize(region, &big, image.Pt(int(math.Round(float64(t.r.Dx())*t.scale)), int(math.Round(float64(t.r.Dy())*t.scale))), 0, 0, gocv.InterpolationLinear)
		src = big
	}
	dets, err := m.DetectAll(src, threshold)
	if err != nil {
		return nil, err
	}
	sx := float32(t.r.Dx()) / float32(src.Cols())
	sy := float32(t.r.Dy()) / float32(src.Rows())
	ox, oy := float32(t.r.Min.X), float32(t.r.Min.Y)
	for i := range dets {
		b := &dets[i].Box
		b.X1, b.X2 = b.X1*sx+ox, b.X2*sx+ox
		b.Y1, b.Y2 = b.Y1*sy+oy, b.Y2*sy+oy
		for k := range dets[i].Keypoints {
			p := &dets[i].Keypoints[k]
			p.X, p.Y = p.X*sx+ox, p.Y*sy+oy
		}
	}
	return dets, nil
}
