// Package hide hides faces in frames: it turns detector boxes into mask
// regions and blurs, pixelates or fills them in place.
//
// Boxes, Detections, All and MaskInto take a caller's Mat and never keep
// it; every scratch Mat they make is closed before they return.
package hide

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"sync"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
)

// Style is how a region is hidden.
type Style string

const (
	// Blur keeps only about BlurCells cells of colour over the long side of
	// the region, smoothed, so a large face is as unrecognisable as a small one.
	Blur Style = "blur"
	// Pixelate shows about PixelCells flat blocks over the long side.
	Pixelate Style = "pixelate"
	// Solid fills the region with Colour.
	Solid Style = "solid"
)

// Shape is the outline of a hidden region.
type Shape string

const (
	// Box hides the whole (grown) rectangle.
	Box Shape = "box"
	// Ellipse hides every pixel touched by the ellipse inscribed in the
	// (grown) rectangle and leaves the rectangle's corners alone.
	Ellipse Shape = "ellipse"
)

// Defaults used for zero-valued fields of Options.
const (
	DefaultStyle      = Blur
	DefaultShape      = Box
	DefaultBlurCells  = 10
	DefaultPixelCells = 12

	// MinCells and MaxCells bound BlurCells and PixelCells: more cells than
	// MaxCells over a face would keep it recognisable.
	MinCells = 4
	MaxCells = 16

	// MaxMaskScale is the largest MaskScale Validate accepts.
	MaxMaskScale = 10
)

// Options says how regions are hidden. The zero value is valid: a box
// blur of the boxes as they are.
type Options struct {
	// Style is blur, pixelate or solid; "" means blur.
	Style Style
	// Shape is box or ellipse; "" means box.
	Shape Shape
	// MaskScale grows every box about its centre by this factor before it
	// is hidden (1.3 is a good setting for face detectors, whose boxes are
	// tight). 0 means 1. Validate, and so Boxes, reject negative values;
	// Regions and Mask, which return no error, take them as 1.
	MaskScale float64
	// Colour is the fill of the solid style (alpha ignored); the zero value
	// is black.
	Colour color.RGBA
	// BlurCells is how many cells of colour the blur keeps over the long
	// side of a region, in [MinCells, MaxCells]; 0 means DefaultBlurCells.
	BlurCells int
	// PixelCells is how many blocks pixelate makes over the long side of a
	// region, in [MinCells, MaxCells]; 0 means DefaultPixelCells.
	PixelCells int
}

// Validate reports the first bad field, by name.
func (o Options) Validate() error {
	switch o.Style {
	case "", Blur, Pixelate, Solid:
	default:
		return fmt.Errorf("style %q: unknown, want %s, %s or %s", o.Style, Blur, Pixelate, Solid)
	}
	switch o.Shape {
	case "", Box, Ellipse:
	default:
		return fmt.Errorf("shape %q: unknown, want %s or %s", o.Shape, Box, Ellipse)
	}
	if math.IsNaN(o.MaskScale) || o.MaskScale < 0 || o.MaskScale > MaxMaskScale {
		return fmt.Errorf("mask scale %g: out of range, want (0, %d] (0 means 1)", o.MaskScale, MaxMaskScale)
	}
	if o.BlurCells != 0 && (o.BlurCells < MinCells || o.BlurCells > MaxCells) {
		return fmt.Errorf("blur cells %d: out of range, want %d to %d (0 means %d)", o.BlurCells, MinCells, MaxCells, DefaultBlurCells)
	}
	if o.PixelCells != 0 && (o.PixelCells < MinCells || o.PixelCells > MaxCells) {
		return fmt.Errorf("pixel cells %d: out of range, want %d to %d (0 means %d)", o.PixelCells, MinCells, MaxCells, DefaultPixelCells)
	}
	return nil
}

// withDefaults fills the zero-valued fields.
func (o Options) withDefaults() Options {
	if o.Style == "" {
		o.Style = DefaultStyle
	}
	if o.Shape == "" {
		o.Shape = DefaultShape
	}
	if !(o.MaskScale > 0) {
		o.MaskScale = 1
	}
	if o.BlurCells == 0 {
		o.BlurCells = DefaultBlurCells
	}
	if o.PixelCells == 0 {
		o.PixelCells = DefaultPixelCells
	}
	return o
}

// ErrEmptyFrame is returned for a nil or empty Mat.
var ErrEmptyFrame = errors.New("empty frame")

// checkFrame accepts a non-empty BGR 8UC3 Mat.
func checkFrame(img *gocv.Mat) error {
	if img == nil || img.Empty() {
		return ErrEmptyFrame
	}
	if t := img.Type(); t != gocv.MatTypeCV8UC3 {
		return fmt.Errorf("frame type %v: want a BGR 8UC3 Mat", t)
	}
	return nil
}

// region is one grown box: rect is its pixel rectangle clipped to the frame
// (never empty), and (cx, cy, a, b) the centre and half-sizes of the grown,
// unclipped box in pixels, which the ellipse is inscribed in.
type region struct {
	rect       image.Rectangle
	cx, cy     float64
	a, b       float64
	shapeIsBox bool
}

// coordLimit bounds box coordinates so that growing them cannot overflow
// (an infinite coordinate becomes a huge one and is then clipped).
const coordLimit = 1e7

func clampCoord(v float32) float64 {
	return math.Max(-coordLimit, math.Min(coordLimit, float64(v)))
}

// regions grows and clips boxes; o must have its defaults filled.
func regions(boxes []convert.Box, w, h int, o Options) []region {
	var out []region
	for _, bx := range boxes {
		if !(bx.X2 > bx.X1) || !(bx.Y2 > bx.Y1) { // also false for NaN
			continue
		}
		x1, y1, x2, y2 := clampCoord(bx.X1), clampCoord(bx.Y1), clampCoord(bx.X2), clampCoord(bx.Y2)
		r := region{
			cx: (x1 + x2) / 2, cy: (y1 + y2) / 2,
			a: (x2 - x1) / 2 * o.MaskScale, b: (y2 - y1) / 2 * o.MaskScale,
			shapeIsBox: o.Shape == Box,
		}
		// Every pixel the grown box touches, clipped to the frame.
		minX := math.Max(math.Floor(r.cx-r.a), 0)
		minY := math.Max(math.Floor(r.cy-r.b), 0)
		maxX := math.Min(math.Ceil(r.cx+r.a), float64(w))
		maxY := math.Min(math.Ceil(r.cy+r.b), float64(h))
		if !(maxX > minX) || !(maxY > minY) || !(r.a > 0) || !(r.b > 0) {
			continue
		}
		r.rect = image.Rect(int(minX), int(minY), int(maxX), int(maxY))
		out = append(out, r)
	}
	return out
}

// spans calls fn(y, x0, x1) for each row y of r.rect with the pixels
// [x0, x1) that the mask covers, in frame coordinates. It is the one
// definition of the mask: Boxes and MaskInto both use it.
//
// For the ellipse, a pixel is covered when its square overlaps the ellipse's
// interior: on each row the ellipse is widest at the row's point nearest the
// centre, and every pixel overlapping that width is taken. This errs on the
// side of hiding.
func (r region) spans(fn func(y, x0, x1 int)) {
	for y := r.rect.Min.Y; y < r.rect.Max.Y; y++ {
		if r.shapeIsBox {
			fn(y, r.rect.Min.X, r.rect.Max.X)
			continue
		}
		top, bottom := float64(y), float64(y+1)
		dy := 0.0
		if r.cy < top {
			dy = top - r.cy
		} else if r.cy > bottom {
			dy = r.cy - bottom
		}
		if dy >= r.b {
			continue
		}
		t := dy / r.b
		hw := r.a * math.Sqrt(1-t*t)
		if !(hw > 0) {
			continue
		}
		x0 := max(int(math.Floor(r.cx-hw)), r.rect.Min.X)
		x1 := min(int(math.Ceil(r.cx+hw)), r.rect.Max.X)
		if x1 > x0 {
			fn(y, x0, x1)
		}
	}
}

// Regions returns the pixel rectangles Boxes works on for boxes in a w×h
// frame: each box grown about its centre by MaskScale, widened to whole
// pixels and clipped to the frame. Boxes that are empty (or NaN) or fall
// outside the frame are left out, so the result may be shorter than boxes.
// With the ellipse shape only the pixels MaskInto marks inside each
// rectangle change.
func Regions(boxes []convert.Box, w, h int, o Options) []image.Rectangle {
	regs := regions(boxes, w, h, o.withDefaults())
	if len(regs) == 0 {
		return nil
	}
	out := make([]image.Rectangle, len(regs))
	for i, r := range regs {
		out[i] = r.rect
	}
	return out
}

// Mask returns the pixels Boxes changes for boxes in a w×h frame, row-major:
// 255 where hidden, 0 where left alone. Use it to measure coverage.
func Mask(boxes []convert.Box, w, h int, o Options) []uint8 {
	if w <= 0 || h <= 0 {
		return nil
	}
	m := make([]uint8, w*h)
	for _, r := range regions(boxes, w, h, o.withDefaults()) {
		r.spans(func(y, x0, x1 int) {
			row := m[y*w+x0 : y*w+x1]
			for i := range row {
				row[i] = 255
			}
		})
	}
	return m
}

// MaskInto writes Mask into mask, an 8UC1 Mat whose size is the frame's:
// 255 where Boxes changes pixels, 0 elsewhere.
func MaskInto(mask *gocv.Mat, boxes []convert.Box, o Options) error {
	if mask == nil || mask.Empty() {
		return fmt.Errorf("mask: %w", ErrEmptyFrame)
	}
	if t := mask.Type(); t != gocv.MatTypeCV8UC1 {
		return fmt.Errorf("mask type %v: want 8UC1", t)
	}
	if err := o.Validate(); err != nil {
		return err
	}
	w, h := mask.Cols(), mask.Rows()
	m := Mask(boxes, w, h, o)
	if mask.IsContinuous() {
		dst, err := mask.DataPtrUint8()
		if err != nil {
			return fmt.Errorf("mask: %w", err)
		}
		copy(dst, m)
		return nil
	}
	// A view into a bigger Mat: copy through a continuous one.
	tmp := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
	defer tmp.Close()
	dst, err := tmp.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("mask: %w", err)
	}
	copy(dst, m)
	tmp.CopyTo(mask)
	return nil
}

// Boxes hides every box in img, a BGR 8UC3 Mat changed in place. Boxes are
// grown by o.MaskScale and clipped to the frame (see Regions); empty boxes
// and boxes outside the frame are ignored, and overlapping boxes are all
// hidden. It fails, leaving img as it was, on a nil, empty or non-8UC3 Mat
// or invalid options; an error after that (none is expected) may leave img
// partly hidden, so a caller should then All or drop the frame.
func Boxes(img *gocv.Mat, boxes []convert.Box, o Options) error {
	if err := checkFrame(img); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.withDefaults()
	regs := regions(boxes, img.Cols(), img.Rows(), o)
	if len(regs) == 0 {
		return nil
	}
	s := newScratch()
	defer s.Close()
	for _, r := range regs {
		if err := hideRegion(img, r, o, s); err != nil {
			return fmt.Errorf("hide %v: %w", r.rect, err)
		}
	}
	return nil
}

// All hides the whole frame in o's style, whatever the shape: the
// fail-closed path for a frame the detector could not process. Blur and
// pixelate keep about BlurCells/PixelCells cells over the frame's long side,
// so nothing in it stays recognisable; solid fills it.
func All(img *gocv.Mat, o Options) error {
	if err := checkFrame(img); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.withDefaults()
	w, h := img.Cols(), img.Rows()
	r := region{
		rect: image.Rect(0, 0, w, h),
		cx:   float64(w) / 2, cy: float64(h) / 2, a: float64(w) / 2, b: float64(h) / 2,
		shapeIsBox: true,
	}
	s := newScratch()
	defer s.Close()
	return hideRegion(img, r, o, s)
}

// Detections hides the boxes of dets in img as Boxes does: each model's
// detections (by convert.Detection.Model) with byModel's options for that
// model when it names one (ForInfo: the style each model carries), the
// others with def.
func Detections(img *gocv.Mat, dets []convert.Detection, def Options, byModel map[string]Options) error {
	if len(byModel) == 0 {
		return Boxes(img, BoxesOf(dets), def)
	}
	// By model, in the order the models first appear, so that where two
	// models' regions overlap, the same style shows frame after frame.
	groups := map[string][]convert.Box{}
	var order []string
	for _, d := range dets {
		if _, ok := groups[d.Model]; !ok {
			order = append(order, d.Model)
		}
		groups[d.Model] = append(groups[d.Model], d.Box)
	}
	for _, model := range order {
		o, ok := byModel[model]
		if !ok {
			o = def
		}
		if err := Boxes(img, groups[model], o); err != nil {
			return err
		}
	}
	return nil
}

// BoxesOf is the boxes of dets, in order.
func BoxesOf(dets []convert.Detection) []convert.Box {
	b := make([]convert.Box, len(dets))
	for i, d := range dets {
		b[i] = d.Box
	}
	return b
}

// scratch holds the Mats one Boxes call reuses from box to box; OpenCV
// reallocates them only when a box's size differs from the last one's.
type scratch struct {
	half   [2]gocv.Mat // ping-pong buffers of shrink's halvings
	small  gocv.Mat    // the cell grid
	mid    gocv.Mat    // blur's intermediate resolution
	hidden gocv.Mat    // the hidden version of the region
}

func newScratch() *scratch {
	return &scratch{
		half:   [2]gocv.Mat{gocv.NewMat(), gocv.NewMat()},
		small:  gocv.NewMat(),
		mid:    gocv.NewMat(),
		hidden: gocv.NewMat(),
	}
}

// Close releases the scratch Mats; safe on nil and twice (gocv's Close
// nils the pointer it frees).
func (s *scratch) Close() {
	if s == nil {
		return
	}
	_ = s.half[0].Close()
	_ = s.half[1].Close()
	_ = s.small.Close()
	_ = s.mid.Close()
	_ = s.hidden.Close()
}

// hideRegion hides one region of img; r.rect is inside img and non-empty.
func hideRegion(img *gocv.Mat, r region, o Options, s *scratch) error {
	view := img.Region(r.rect)
	defer view.Close()
	rw, rh := r.rect.Dx(), r.rect.Dy()

	if o.Style == Solid && r.shapeIsBox {
		view.SetTo(colourScalar(o.Colour))
		return nil
	}

	switch o.Style {
	case Solid:
		view.CopyTo(&s.hidden) // only to size s.hidden like view
		s.hidden.SetTo(colourScalar(o.Colour))
	case Pixelate:
		gw, gh, _ := cellGrid(rw, rh, o.PixelCells)
		shrink(view, gw, gh, s)
		gocv.Resize(s.small, &s.hidden, image.Pt(rw, rh), 0, 0, gocv.InterpolationNearestNeighbor)
	default: // Blur
		blur(view, r, o.BlurCells, s)
	}

	if r.shapeIsBox {
		s.hidden.CopyTo(&view)
		return nil
	}
	mask := gocv.NewMatWithSize(rh, rw, gocv.MatTypeCV8UC1) // zeroed
	defer mask.Close()
	m, err := mask.DataPtrUint8() // a fresh Mat is continuous: never fails
	if err != nil {
		return fmt.Errorf("ellipse mask: %w", err)
	}
	x0, y0 := r.rect.Min.X, r.rect.Min.Y
	r.spans(func(y, a, b int) {
		row := m[(y-y0)*rw+a-x0 : (y-y0)*rw+b-x0]
		for i := range row {
			row[i] = 255
		}
	})
	s.hidden.CopyToWithMask(&view, mask)
	return nil
}

// blur writes into s.hidden a copy of view that keeps only about cells cells
// of colour over its long side: average down to the cell grid, smooth there,
// scale up bilinearly to at most midCell pixels a cell, soften the creases
// of the bilinear scaling there, and scale up to the region's size. Every
// step costs at most a pass over the region, whatever the cell size; a
// Gaussian of a face-sized sigma over the full region would cost far more.
func blur(view gocv.Mat, r region, cells int, s *scratch) {
	rw, rh := r.rect.Dx(), r.rect.Dy()
	gw, gh, cell := cellGrid(rw, rh, cells)
	shrink(view, gw, gh, s)
	gocv.GaussianBlur(s.small, &s.small, image.Pt(0, 0), gridSigma, gridSigma, gocv.BorderReplicate)
	if cell <= midCell {
		gocv.Resize(s.small, &s.hidden, image.Pt(rw, rh), 0, 0, gocv.InterpolationLinear)
		soften(&s.hidden, cell)
		return
	}
	f := midCell / cell // < 1
	mw := max(1, int(math.Round(float64(rw)*f)))
	mh := max(1, int(math.Round(float64(rh)*f)))
	gocv.Resize(s.small, &s.mid, image.Pt(mw, mh), 0, 0, gocv.InterpolationLinear)
	soften(&s.mid, midCell)
	gocv.Resize(s.mid, &s.hidden, image.Pt(rw, rh), 0, 0, gocv.InterpolationLinear)
}

// soften blurs m, whose cells are cell pixels wide, by softenPerCell of a cell.
func soften(m *gocv.Mat, cell float64) {
	if sigma := cell * softenPerCell; sigma >= 0.5 {
		gocv.GaussianBlur(*m, m, image.Pt(0, 0), sigma, sigma, gocv.BorderReplicate)
	}
}

// Blur tuning: gridSigma smooths the cell grid (in cells); softenPerCell
// (of a cell) hides the creases of the bilinear upscale; midCell is the
// largest cell, in pixels, at which the softening runs.
const (
	gridSigma     = 0.7
	softenPerCell = 0.25
	midCell       = 8.0
)

// shrink writes into s.small the gw×gh area average of src. Large regions
// are first halved with bilinear steps (each output the mean of about 2×2
// inputs, which OpenCV does quickly) while the result stays at least twice
// the grid; the last, general area step then has a small input. A direct
// area resize of a 1000-pixel region by a non-integer factor is several
// times slower.
func shrink(src gocv.Mat, gw, gh int, s *scratch) {
	cur := src
	w, h := src.Cols(), src.Rows()
	for i := 0; w >= 4*gw && h >= 4*gh; i ^= 1 {
		w, h = (w+1)/2, (h+1)/2
		gocv.Resize(cur, &s.half[i], image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
		cur = s.half[i]
	}
	gocv.Resize(cur, &s.small, image.Pt(gw, gh), 0, 0, gocv.InterpolationArea)
}

// cellGrid is the size of the grid with about cells cells over the long side
// of a w×h region, and the cell size in pixels: at least 2, so that even a
// region smaller than cells pixels across loses detail.
func cellGrid(w, h, cells int) (gw, gh int, cell float64) {
	cell = math.Max(float64(max(w, h))/float64(cells), 2)
	gw = max(1, int(math.Round(float64(w)/cell)))
	gh = max(1, int(math.Round(float64(h)/cell)))
	return gw, gh, cell
}

// colourScalar is c as a BGR scalar.
func colourScalar(c color.RGBA) gocv.Scalar {
	return gocv.NewScalar(float64(c.B), float64(c.G), float64(c.R), 0)
}

// FromStyle is the options a style as settings spell it stands for, over
// def: each field the style leaves empty keeps def's.
func FromStyle(def Options, st convert.Style) (Options, error) {
	o := def
	if st.Style != "" {
		o.Style = Style(st.Style)
	}
	if st.Shape != "" {
		o.Shape = Shape(st.Shape)
	}
	if st.MaskScale != 0 {
		o.MaskScale = st.MaskScale
	}
	if st.Colour != "" {
		c, err := ParseColour(st.Colour)
		if err != nil {
			return o, fmt.Errorf("colour: %w", err)
		}
		o.Colour = c
	}
	return o, o.Validate()
}

// ForInfo maps each model of info (its parts, or info itself) that carries
// a style to the options it hides with, over def. A model whose style does
// not make valid options (never, for a style from a validated config)
// hides with def: its detections are still hidden.
func ForInfo(info convert.ModelInfo, def Options) map[string]Options {
	return forInfo(info, func(st *convert.Style) (Options, error) { return FromStyle(def, *st) })
}

func forInfo(info convert.ModelInfo, options func(*convert.Style) (Options, error)) map[string]Options {
	parts := info.Models
	if len(parts) == 0 {
		parts = []convert.ModelInfo{info}
	}
	var m map[string]Options
	for _, p := range parts {
		if p.Style == nil {
			continue
		}
		if o, err := options(p.Style); err == nil {
			if m == nil {
				m = map[string]Options{}
			}
			m[p.Name] = o
		}
	}
	return m
}

// Styles is ForInfo for a run that hides frame after frame: each style a
// model carries is turned into options once (a loaded model's style does
// not change; a reload brings a new one), not on every frame. Safe for
// concurrent use.
type Styles struct {
	def Options
	m   sync.Map // *convert.Style -> Options
}

// NewStyles is a Styles over def.
func NewStyles(def Options) *Styles { return &Styles{def: def} }

// ForInfo is ForInfo(info, def).
func (s *Styles) ForInfo(info convert.ModelInfo) map[string]Options {
	return forInfo(info, func(st *convert.Style) (Options, error) {
		if o, ok := s.m.Load(st); ok {
			return o.(Options), nil
		}
		o, err := FromStyle(s.def, *st)
		if err == nil {
			s.m.Store(st, o)
		}
		return o, err
	})
}

// ParseColour reads a colour as #rrggbb.
func ParseColour(s string) (color.RGBA, error) {
	var r, g, b uint8
	if len(s) != 7 || s[0] != '#' {
		return color.RGBA{}, fmt.Errorf("%q is not #rrggbb", s)
	}
	if _, err := fmt.Sscanf(s[1:], "%02x%02x%02x", &r, &g, &b); err != nil {
		return color.RGBA{}, fmt.Errorf("%q is not #rrggbb", s)
	}
	return color.RGBA{R: r, G: g, B: b, A: 255}, nil
}
