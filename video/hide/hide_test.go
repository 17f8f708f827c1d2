package hide

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
)

// ---- fixtures ---------------------------------------------------------------

// noiseMat is a w×h BGR image of uniform random bytes (fixed seed).
func noiseMat(t testing.TB, w, h int, seed uint64) gocv.Mat {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	d, err := m.DataPtrUint8()
	if err != nil {
		m.Close()
		t.Fatalf("noise image: %v", err)
	}
	for i := range d {
		d[i] = uint8(r.Uint32())
	}
	return m
}

// checkerMat is a w×h BGR image of black and white squares of cell pixels.
func checkerMat(t testing.TB, w, h, cell int) gocv.Mat {
	t.Helper()
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	d, err := m.DataPtrUint8()
	if err != nil {
		m.Close()
		t.Fatalf("checker image: %v", err)
	}
	for y := range h {
		for x := range w {
			if (x/cell+y/cell)%2 == 0 {
				i := 3 * (y*w + x)
				d[i], d[i+1], d[i+2] = 255, 255, 255
			}
		}
	}
	return m
}

// pixels copies a continuous Mat's bytes into Go memory.
func pixels(t testing.TB, m gocv.Mat) []byte {
	t.Helper()
	d, err := m.DataPtrUint8()
	if err != nil {
		t.Fatalf("read pixels: %v", err)
	}
	return slices.Clone(d)
}

// detail is the variance of the 4-neighbour Laplacian of the grey level
// (mean of B, G, R) over the pixels where in is true for the pixel and its
// four neighbours: high for noise or fine texture, near zero once blurred.
func detail(b []byte, w, h int, in func(x, y int) bool) float64 {
	grey := func(x, y int) float64 {
		i := 3 * (y*w + x)
		return (float64(b[i]) + float64(b[i+1]) + float64(b[i+2])) / 3
	}
	var n, sum, sum2 float64
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			if !in(x, y) || !in(x-1, y) || !in(x+1, y) || !in(x, y-1) || !in(x, y+1) {
				continue
			}
			l := 4*grey(x, y) - grey(x-1, y) - grey(x+1, y) - grey(x, y-1) - grey(x, y+1)
			n++
			sum += l
			sum2 += l * l
		}
	}
	if n == 0 {
		return math.NaN()
	}
	mean := sum / n
	return sum2/n - mean*mean
}

// contrast is the variance of the grey level over the pixels where in is
// true: it catches coarse structure (a face's eyes and mouth) that a small
// fixed blur would keep, which detail alone does not see.
func contrast(b []byte, w, h int, in func(x, y int) bool) float64 {
	var n, sum, sum2 float64
	for y := range h {
		for x := range w {
			if !in(x, y) {
				continue
			}
			i := 3 * (y*w + x)
			g := (float64(b[i]) + float64(b[i+1]) + float64(b[i+2])) / 3
			n++
			sum += g
			sum2 += g * g
		}
	}
	mean := sum / n
	return sum2/n - mean*mean
}

var (
	allStyles = []Style{Blur, Pixelate, Solid}
	allShapes = []Shape{Box, Ellipse}
)

// mixedBoxes covers the awkward cases: overlapping boxes, boxes partly
// outside each edge, a 1×1 box, fractional coordinates, and boxes that must
// be ignored (outside, empty, inverted, NaN).
var mixedBoxes = []convert.Box{
	{X1: 40, Y1: 30, X2: 100, Y2: 110},
	{X1: 80, Y1: 60, X2: 150, Y2: 120}, // overlaps the first
	{X1: -20, Y1: -10, X2: 30, Y2: 40}, // top-left corner
	{X1: 180, Y1: 120, X2: 260, Y2: 190},
	{X1: 120.3, Y1: 5.7, X2: 141.9, Y2: 27.2},
	{X1: 10, Y1: 130, X2: 11, Y2: 131}, // 1×1
	{X1: 300, Y1: 10, X2: 320, Y2: 30}, // outside
	{X1: 50, Y1: 50, X2: 50, Y2: 70},   // empty
	{X1: 60, Y1: 60, X2: 40, Y2: 40},   // inverted
	{X1: float32(math.NaN()), Y1: 1, X2: 20, Y2: 20},
}

// ---- Boxes -----------------------------------------------------------------

func TestHideChangesOnlyTheMask(t *testing.T) {
	const w, h = 200, 150
	colour := color.RGBA{R: 10, G: 200, B: 30}
	for _, st := range allStyles {
		for _, sh := range allShapes {
			t.Run(fmt.Sprintf("%s/%s", st, sh), func(t *testing.T) {
				o := Options{Style: st, Shape: sh, MaskScale: 1.3, Colour: colour}
				img := noiseMat(t, w, h, 1)
				defer img.Close()
				before := pixels(t, img)
				if err := Boxes(&img, mixedBoxes, o); err != nil {
					t.Fatalf("Hide: %v", err)
				}
				after := pixels(t, img)
				mask := Mask(mixedBoxes, w, h, o)

				var inside, changed int
				for p := range w * h {
					same := [3]byte(before[3*p:]) == [3]byte(after[3*p:])
					if mask[p] == 0 && !same {
						t.Fatalf("pixel (%d,%d) outside the mask changed", p%w, p/w)
					}
					if mask[p] != 0 {
						inside++
						if !same {
							changed++
						}
					}
				}
				// On noise a hidden pixel keeps its value only by chance.
				if frac := float64(changed) / float64(inside); frac < 0.9 {
					t.Errorf("only %d of %d pixels inside the mask changed", changed, inside)
				}

				rects := Regions(mixedBoxes, w, h, o)
				if len(rects) != 6 {
					t.Fatalf("Regions: %d rectangles, want 6 (4 ignored boxes): %v", len(rects), rects)
				}
				if sh != Ellipse {
					return
				}
				// The corners of a rectangle of some size lie outside its
				// ellipse and are left exactly as they were.
				for _, r := range rects {
					if r.Dx() < 8 || r.Dy() < 8 {
						continue
					}
					for _, c := range []image.Point{r.Min, {r.Max.X - 1, r.Min.Y}, {r.Min.X, r.Max.Y - 1}, r.Max.Sub(image.Pt(1, 1))} {
						if mask[c.Y*w+c.X] != 0 {
							continue // covered by an overlapping box
						}
						p := c.Y*w + c.X
						if [3]byte(before[3*p:]) != [3]byte(after[3*p:]) {
							t.Errorf("corner %v of %v changed under the ellipse shape", c, r)
						}
					}
				}
			})
		}
	}
}

func TestHideSolidFillsMask(t *testing.T) {
	const w, h = 200, 150
	colour := color.RGBA{R: 250, G: 120, B: 7, A: 255}
	want := [3]byte{colour.B, colour.G, colour.R}
	for _, sh := range allShapes {
		t.Run(string(sh), func(t *testing.T) {
			o := Options{Style: Solid, Shape: sh, MaskScale: 1.3, Colour: colour}
			img := noiseMat(t, w, h, 2)
			defer img.Close()
			if err := Boxes(&img, mixedBoxes, o); err != nil {
				t.Fatalf("Hide: %v", err)
			}
			after := pixels(t, img)
			mask := Mask(mixedBoxes, w, h, o)
			n := 0
			for p, v := range mask {
				if v == 0 {
					continue
				}
				n++
				if got := [3]byte(after[3*p:]); got != want {
					t.Fatalf("pixel (%d,%d) inside the mask is %v, want %v", p%w, p/w, got, want)
				}
			}
			if n == 0 {
				t.Fatal("mask is empty")
			}
		})
	}
}

// TestHideRemovesDetail is the "a big face is not recognisable" guarantee:
// on a 600×600 region of noise or a checkerboard, blur and pixelate leave a
// small fraction of the fine detail and of the contrast. The 20-pixel
// checkerboard (30 squares across the region) is what a fixed small blur
// would keep.
func TestHideRemovesDetail(t *testing.T) {
	const w, h, minDrop = 800, 700, 20.0
	box := []convert.Box{{X1: 100, Y1: 50, X2: 700, Y2: 650}}
	patterns := []struct {
		name string
		make func(testing.TB) gocv.Mat
	}{
		{"noise", func(t testing.TB) gocv.Mat { return noiseMat(t, w, h, 3) }},
		{"checker2px", func(t testing.TB) gocv.Mat { return checkerMat(t, w, h, 2) }},
		{"checker20px", func(t testing.TB) gocv.Mat { return checkerMat(t, w, h, 20) }},
	}
	for _, pat := range patterns {
		for _, st := range []Style{Blur, Pixelate} {
			for _, sh := range allShapes {
				t.Run(fmt.Sprintf("%s/%s/%s", pat.name, st, sh), func(t *testing.T) {
					o := Options{Style: st, Shape: sh, MaskScale: 1}
					img := pat.make(t)
					defer img.Close()
					mask := Mask(box, w, h, o)
					in := func(x, y int) bool { return mask[y*w+x] != 0 }
					pre := pixels(t, img)
					if err := Boxes(&img, box, o); err != nil {
						t.Fatalf("Hide: %v", err)
					}
					post := pixels(t, img)
					for _, m := range []struct {
						name string
						f    func([]byte, int, int, func(x, y int) bool) float64
					}{{"detail", detail}, {"contrast", contrast}} {
						before, after := m.f(pre, w, h, in), m.f(post, w, h, in)
						t.Logf("%s %.1f -> %.3f", m.name, before, after)
						if !(after*minDrop < before) {
							t.Errorf("%s %.1f -> %.3f: dropped less than %gx", m.name, before, after, minDrop)
						}
					}
				})
			}
		}
	}
}

func TestHideSmallBoxChanges(t *testing.T) {
	const w, h = 64, 64
	box := []convert.Box{{X1: 20, Y1: 22, X2: 40, Y2: 42}}
	for _, st := range []Style{Blur, Pixelate} {
		for _, sh := range allShapes {
			t.Run(fmt.Sprintf("%s/%s", st, sh), func(t *testing.T) {
				o := Options{Style: st, Shape: sh, MaskScale: 1}
				img := noiseMat(t, w, h, 4)
				defer img.Close()
				before := pixels(t, img)
				if err := Boxes(&img, box, o); err != nil {
					t.Fatalf("Hide: %v", err)
				}
				after := pixels(t, img)
				mask := Mask(box, w, h, o)
				in := func(x, y int) bool { return mask[y*w+x] != 0 }
				changed, inside := 0, 0
				for p, v := range mask {
					if v != 0 {
						inside++
						if [3]byte(before[3*p:]) != [3]byte(after[3*p:]) {
							changed++
						}
					}
				}
				if changed*10 < inside*9 {
					t.Errorf("%d of %d pixels inside the 20×20 mask changed", changed, inside)
				}
				if b, a := detail(before, w, h, in), detail(after, w, h, in); !(a*4 < b) {
					t.Errorf("detail %.1f -> %.1f: dropped less than 4x", b, a)
				}
			})
		}
	}
}

func TestHideEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		w, h  int
		boxes []convert.Box
	}{
		{"no boxes", 32, 24, nil},
		{"1x1 frame", 1, 1, []convert.Box{{X1: 0, Y1: 0, X2: 1, Y2: 1}}},
		{"1x1 frame, box around it", 1, 1, []convert.Box{{X1: -5, Y1: -5, X2: 5, Y2: 5}}},
		{"1x1 box", 32, 24, []convert.Box{{X1: 7, Y1: 8, X2: 8, Y2: 9}}},
		{"box is the frame", 32, 24, []convert.Box{{X1: 0, Y1: 0, X2: 32, Y2: 24}}},
		{"box beyond every edge", 32, 24, []convert.Box{{X1: -100, Y1: -100, X2: 200, Y2: 200}}},
		{"infinite box", 32, 24, []convert.Box{{X1: float32(math.Inf(-1)), Y1: 3, X2: float32(math.Inf(1)), Y2: 9}}},
		{"1-pixel-wide box", 32, 24, []convert.Box{{X1: 5, Y1: 0, X2: 6, Y2: 24}}},
	} {
		for _, st := range allStyles {
			for _, sh := range allShapes {
				t.Run(fmt.Sprintf("%s/%s/%s", tc.name, st, sh), func(t *testing.T) {
					o := Options{Style: st, Shape: sh, MaskScale: 1.3, Colour: color.RGBA{R: 1, G: 2, B: 3}}
					img := noiseMat(t, tc.w, tc.h, 5)
					defer img.Close()
					before := pixels(t, img)
					if err := Boxes(&img, tc.boxes, o); err != nil {
						t.Fatalf("Hide: %v", err)
					}
					after := pixels(t, img)
					mask := Mask(tc.boxes, tc.w, tc.h, o)
					for p, v := range mask {
						same := [3]byte(before[3*p:]) == [3]byte(after[3*p:])
						if v == 0 && !same {
							t.Fatalf("pixel %d outside the mask changed", p)
						}
						if v != 0 && st == Solid && [3]byte(after[3*p:]) != [3]byte{3, 2, 1} {
							t.Fatalf("pixel %d inside the mask not filled", p)
						}
					}
					if len(tc.boxes) == 0 && !slices.Equal(before, after) {
						t.Error("no boxes, yet the frame changed")
					}
				})
			}
		}
	}
}

func TestHideBadInput(t *testing.T) {
	grey := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC1)
	defer grey.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	good := noiseMat(t, 10, 10, 6)
	defer good.Close()
	box := []convert.Box{{X1: 0, Y1: 0, X2: 5, Y2: 5}}

	for _, tc := range []struct {
		name string
		img  *gocv.Mat
		o    Options
		want string // in the message
	}{
		{"nil Mat", nil, Options{}, "empty frame"},
		{"empty Mat", &empty, Options{}, "empty frame"},
		{"grey Mat", &grey, Options{}, "8UC3"},
		{"bad style", &good, Options{Style: "smudge"}, "style"},
		{"bad scale", &good, Options{MaskScale: -2}, "mask scale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before []byte
			if tc.img == &good {
				before = pixels(t, good)
			}
			for fn, err := range map[string]error{
				"Hide":    Boxes(tc.img, box, tc.o),
				"HideAll": All(tc.img, tc.o),
			} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: error %v, want one containing %q", fn, err, tc.want)
				}
			}
			if tc.img == nil || tc.img == &empty {
				if err := Boxes(tc.img, box, Options{}); !errors.Is(err, ErrEmptyFrame) {
					t.Errorf("Hide: %v, want ErrEmptyFrame", err)
				}
			}
			if before != nil && !slices.Equal(before, pixels(t, good)) {
				t.Error("a failed Hide changed the frame")
			}
		})
	}
}

// ---- All -----------------------------------------------------------------

func TestHideAll(t *testing.T) {
	const w, h = 320, 240
	colour := color.RGBA{R: 9, G: 8, B: 7}
	all := func(x, y int) bool { return true }
	for _, st := range allStyles {
		for _, sh := range allShapes { // the shape must not matter
			t.Run(fmt.Sprintf("%s/%s", st, sh), func(t *testing.T) {
				img := noiseMat(t, w, h, 7)
				defer img.Close()
				before := pixels(t, img)
				if err := All(&img, Options{Style: st, Shape: sh, Colour: colour}); err != nil {
					t.Fatalf("HideAll: %v", err)
				}
				after := pixels(t, img)
				if st == Solid {
					for p := range w * h {
						if [3]byte(after[3*p:]) != [3]byte{7, 8, 9} {
							t.Fatalf("pixel (%d,%d) not filled", p%w, p/w)
						}
					}
					return
				}
				b, a := detail(before, w, h, all), detail(after, w, h, all)
				t.Logf("detail %.1f -> %.3f", b, a)
				if !(a*100 < b) {
					t.Errorf("detail %.1f -> %.3f: dropped less than 100x", b, a)
				}
				// The corners too, whatever the shape.
				for _, p := range []int{0, w - 1, (h - 1) * w, h*w - 1} {
					if [3]byte(before[3*p:]) == [3]byte(after[3*p:]) {
						t.Errorf("corner pixel %d unchanged", p)
					}
				}
			})
		}
	}
}

// ---- Regions and masks ----------------------------------------------------

func TestRegions(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		name  string
		box   convert.Box
		w, h  int
		scale float64
		want  []image.Rectangle
	}{
		// centre (15,15), half-size 5*1.3 = 6.5: [8.5, 21.5) -> pixels 8..21
		{"grown about centre", convert.Box{X1: 10, Y1: 10, X2: 20, Y2: 20}, 100, 100, 1.3, []image.Rectangle{image.Rect(8, 8, 22, 22)}},
		// centre (50,50), half (13,39): [37,63) x [11,89)
		{"grown, not square", convert.Box{X1: 40, Y1: 20, X2: 60, Y2: 80}, 100, 100, 1.3, []image.Rectangle{image.Rect(37, 11, 63, 89)}},
		{"scale 0 means 1, fractions widen", convert.Box{X1: 10.5, Y1: 10, X2: 20, Y2: 20.2}, 100, 100, 0, []image.Rectangle{image.Rect(10, 10, 20, 21)}},
		{"scale 1", convert.Box{X1: 10, Y1: 10, X2: 20, Y2: 20}, 100, 100, 1, []image.Rectangle{image.Rect(10, 10, 20, 20)}},
		// [-5,15) clipped at the top-left
		{"clipped top-left", convert.Box{X1: 0, Y1: 0, X2: 10, Y2: 10}, 100, 100, 2, []image.Rectangle{image.Rect(0, 0, 15, 15)}},
		// centre (95,97.5), half (10,5): [85,105) x [92.5,102.5) clipped
		{"clipped bottom-right", convert.Box{X1: 90, Y1: 95, X2: 100, Y2: 100}, 100, 100, 2, []image.Rectangle{image.Rect(85, 92, 100, 100)}},
		{"grown into the frame", convert.Box{X1: 100, Y1: 40, X2: 110, Y2: 50}, 100, 100, 3, []image.Rectangle{image.Rect(90, 30, 100, 60)}},
		{"outside", convert.Box{X1: 200, Y1: 200, X2: 210, Y2: 210}, 100, 100, 1.3, nil},
		{"touching the edge from outside", convert.Box{X1: 100, Y1: 0, X2: 110, Y2: 10}, 100, 100, 1, nil},
		{"empty", convert.Box{X1: 5, Y1: 5, X2: 5, Y2: 10}, 100, 100, 1.3, nil},
		{"inverted", convert.Box{X1: 10, Y1: 10, X2: 5, Y2: 5}, 100, 100, 1.3, nil},
		{"NaN", convert.Box{X1: 1, Y1: float32(math.NaN()), X2: 5, Y2: 5}, 100, 100, 1.3, nil},
		{"infinite", convert.Box{X1: -inf, Y1: 10, X2: 20, Y2: 20}, 100, 100, 1, []image.Rectangle{image.Rect(0, 10, 20, 20)}},
		{"1x1 box", convert.Box{X1: 3, Y1: 4, X2: 4, Y2: 5}, 100, 100, 1, []image.Rectangle{image.Rect(3, 4, 4, 5)}},
		{"1x1 frame", convert.Box{X1: 0, Y1: 0, X2: 1, Y2: 1}, 1, 1, 1.3, []image.Rectangle{image.Rect(0, 0, 1, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Regions([]convert.Box{tc.box}, tc.w, tc.h, Options{MaskScale: tc.scale})
			if !slices.Equal(got, tc.want) {
				t.Errorf("Regions(%+v, %dx%d, scale %g) = %v, want %v", tc.box, tc.w, tc.h, tc.scale, got, tc.want)
			}
		})
	}
}

func TestMaskBoxIsRegions(t *testing.T) {
	const w, h = 200, 150
	o := Options{Shape: Box, MaskScale: 1.3}
	mask := Mask(mixedBoxes, w, h, o)
	want := make([]uint8, w*h)
	for _, r := range Regions(mixedBoxes, w, h, o) {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				want[y*w+x] = 255
			}
		}
	}
	if !slices.Equal(mask, want) {
		t.Error("box mask differs from the union of Regions")
	}
}

// TestMaskEllipse checks the ellipse mask against its definition: a pixel
// is in when its square overlaps the ellipse inscribed in the grown box.
func TestMaskEllipse(t *testing.T) {
	const w, h = 120, 90
	for _, tc := range []struct {
		name    string
		box     convert.Box
		scale   float64
		corners bool // the rectangle's corners must be out
	}{
		{"even", convert.Box{X1: 20, Y1: 10, X2: 80, Y2: 70}, 1, true},
		{"fractional, grown", convert.Box{X1: 30.25, Y1: 20.7, X2: 61.5, Y2: 40.1}, 1.3, true},
		{"clipped", convert.Box{X1: -30, Y1: 50, X2: 40, Y2: 120}, 1.3, false},
		{"thin", convert.Box{X1: 10, Y1: 10, X2: 11.5, Y2: 60}, 1, false},
		{"1x1", convert.Box{X1: 5, Y1: 5, X2: 6, Y2: 6}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Shape: Ellipse, MaskScale: tc.scale}
			mask := Mask([]convert.Box{tc.box}, w, h, o)
			b := tc.box
			cx, cy := float64(b.X1+b.X2)/2, float64(b.Y1+b.Y2)/2
			a, bb := float64(b.X2-b.X1)/2*tc.scale, float64(b.Y2-b.Y1)/2*tc.scale
			in := 0
			for y := range h {
				for x := range w {
					// nearest point of the pixel square to the centre
					nx := math.Max(float64(x), math.Min(cx, float64(x+1)))
					ny := math.Max(float64(y), math.Min(cy, float64(y+1)))
					overlaps := math.Pow((nx-cx)/a, 2)+math.Pow((ny-cy)/bb, 2) < 1
					if got := mask[y*w+x] != 0; got != overlaps {
						t.Fatalf("pixel (%d,%d): in mask %v, overlaps ellipse %v", x, y, got, overlaps)
					}
					if overlaps {
						in++
					}
				}
			}
			if in == 0 {
				t.Fatal("empty mask")
			}
			if !tc.corners {
				return
			}
			r := Regions([]convert.Box{tc.box}, w, h, o)[0]
			for _, c := range []image.Point{r.Min, {r.Max.X - 1, r.Min.Y}, {r.Min.X, r.Max.Y - 1}, r.Max.Sub(image.Pt(1, 1))} {
				if mask[c.Y*w+c.X] != 0 {
					t.Errorf("corner %v of %v in the mask", c, r)
				}
			}
		})
	}
}

func TestMaskInto(t *testing.T) {
	const w, h = 200, 150
	o := Options{Shape: Ellipse, MaskScale: 1.3}
	want := Mask(mixedBoxes, w, h, o)

	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
	defer m.Close()
	m.SetTo(gocv.NewScalar(7, 0, 0, 0)) // stale content must be overwritten
	if err := MaskInto(&m, mixedBoxes, o); err != nil {
		t.Fatalf("MaskInto: %v", err)
	}
	if !slices.Equal(pixels(t, m), want) {
		t.Error("MaskInto differs from Mask")
	}

	// A view into a wider Mat is not continuous.
	big := gocv.NewMatWithSize(h+10, w+30, gocv.MatTypeCV8UC1)
	defer big.Close()
	view := big.Region(image.Rect(10, 5, 10+w, 5+h))
	defer view.Close()
	if err := MaskInto(&view, mixedBoxes, o); err != nil {
		t.Fatalf("MaskInto on a view: %v", err)
	}
	got := view.Clone()
	defer got.Close()
	if !slices.Equal(pixels(t, got), want) {
		t.Error("MaskInto on a view differs from Mask")
	}

	bgr := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	defer bgr.Close()
	if err := MaskInto(&bgr, mixedBoxes, o); err == nil || !strings.Contains(err.Error(), "8UC1") {
		t.Errorf("MaskInto on 8UC3: %v, want an error naming 8UC1", err)
	}
	if err := MaskInto(nil, mixedBoxes, o); !errors.Is(err, ErrEmptyFrame) {
		t.Errorf("MaskInto(nil): %v, want ErrEmptyFrame", err)
	}
}

// ---- options ---------------------------------------------------------------

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string // "" for valid, else a word the message must hold
	}{
		{"zero value", Options{}, ""},
		{"all set", Options{Style: Pixelate, Shape: Ellipse, MaskScale: 1.3, BlurCells: 8, PixelCells: 16}, ""},
		{"largest scale", Options{MaskScale: 10}, ""},
		{"small scale", Options{MaskScale: 0.5}, ""},
		{"unknown style", Options{Style: "Blur"}, `style "Blur"`},
		{"unknown shape", Options{Shape: "circle"}, `shape "circle"`},
		{"negative scale", Options{MaskScale: -1}, "mask scale"},
		{"NaN scale", Options{MaskScale: math.NaN()}, "mask scale"},
		{"infinite scale", Options{MaskScale: math.Inf(1)}, "mask scale"},
		{"too large scale", Options{MaskScale: 10.5}, "mask scale"},
		{"too few blur cells", Options{BlurCells: 3}, "blur cells"},
		{"too many blur cells", Options{BlurCells: 17}, "blur cells"},
		{"negative pixel cells", Options{PixelCells: -1}, "pixel cells"},
		{"too many pixel cells", Options{PixelCells: 40}, "pixel cells"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// ---- benchmarks --------------------------------------------------------------

// BenchmarkHide hides boxes in a 1920×1080 frame of noise: one 1000×1000
// box (MaskScale 1) or ten 100×100 faces (MaskScale 1.3).
func BenchmarkHide(b *testing.B) {
	const w, h = 1920, 1080
	big := []convert.Box{{X1: 400, Y1: 40, X2: 1400, Y2: 1040}}
	var faces []convert.Box
	for i := range 10 {
		x, y := float32(60+180*i), float32(100+70*i)
		faces = append(faces, convert.Box{X1: x, Y1: y, X2: x + 100, Y2: y + 100})
	}
	img := noiseMat(b, w, h, 8)
	defer img.Close()
	for _, st := range allStyles {
		for _, sh := range allShapes {
			for _, c := range []struct {
				name  string
				boxes []convert.Box
				scale float64
			}{{"1000px", big, 1}, {"10faces", faces, 1.3}} {
				o := Options{Style: st, Shape: sh, MaskScale: c.scale}
				b.Run(fmt.Sprintf("%s/%s/%s", st, sh, c.name), func(b *testing.B) {
					for b.Loop() {
						if err := Boxes(&img, c.boxes, o); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
	for _, st := range allStyles {
		b.Run(fmt.Sprintf("all/%s/1080p", st), func(b *testing.B) {
			for b.Loop() {
				if err := All(&img, Options{Style: st}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestStylesForInfo: Styles gives what ForInfo gives, for each part of a
// combined model that carries a style, and none for one that carries none.
func TestStylesForInfo(t *testing.T) {
	green := &convert.Style{Style: "solid", Colour: "#00ff00"}
	info := convert.ModelInfo{Models: []convert.ModelInfo{{Name: "a", Style: green}, {Name: "b"}}}
	def := Options{Style: Blur}
	s := NewStyles(def)
	for range 2 { // the second time from the cache
		got, want := s.ForInfo(info), ForInfo(info, def)
		if len(got) != 1 || got["a"] != want["a"] || got["a"].Colour != (color.RGBA{0, 255, 0, 255}) {
			t.Fatalf("Styles.ForInfo %+v, ForInfo %+v; want a alone, solid green", got, want)
		}
	}
}
