package tensor

import (
	"fmt"
	"image"
	"math"
	"os"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/testenv"
)

// TestMain fails the package when a test leaves a gocv.Mat open; the check
// runs only under gocv's matprofile tag: go test -tags matprofile ./convert/tensor/
func TestMain(m *testing.M) { os.Exit(testenv.CheckMats(m)) }

// TestFill checks layout, channel order, normalisation and padding on a
// synthetic frame with known pixels.
func TestFill(t *testing.T) {
	// 4x2 BGR frame: left half pure blue, right half pure red.
	img := gocv.NewMatWithSize(2, 4, gocv.MatTypeCV8UC3)
	defer img.Close()
	img.SetTo(gocv.NewScalar(255, 0, 0, 0))
	right := img.Region(image.Rect(2, 0, 4, 2))
	right.SetTo(gocv.NewScalar(0, 0, 255, 0))
	right.Close()

	t.Run("nchw bgr raw, padded to /4", func(t *testing.T) {
		p := convert.Preprocess{Multiple: 4, Layout: convert.NCHW, Std: [3]float32{1, 1, 1}}
		l := p.Plan(4, 2)
		dst := make([]float32, p.Len(l))
		if err := FillFloat32(p, img, l, dst); err != nil {
			t.Fatal(err)
		}
		plane := 16
		// pixel (0,0): blue -> B plane 255; pixel (3,0): red -> R plane 255.
		if dst[0] != 255 || dst[plane] != 0 || dst[2*plane] != 0 {
			t.Errorf("pixel (0,0) = %v,%v,%v, want 255,0,0 (BGR)", dst[0], dst[plane], dst[2*plane])
		}
		if dst[3] != 0 || dst[2*plane+3] != 255 {
			t.Errorf("pixel (3,0) B=%v R=%v, want 0 and 255", dst[3], dst[2*plane+3])
		}
		// rows 2 and 3 are padding: zero.
		for i := 8; i < 16; i++ {
			if dst[i] != 0 || dst[2*plane+i] != 0 {
				t.Fatalf("padding at %d = %v", i, dst[i])
			}
		}
	})
	t.Run("nhwc rgb [-1,1], centred", func(t *testing.T) {
		p := convert.Preprocess{Width: 4, Height: 4, Fit: convert.FitCentre, Layout: convert.NHWC, RGB: true,
			Mean: [3]float32{127.5, 127.5, 127.5}, Std: [3]float32{127.5, 127.5, 127.5}}
		l := p.Plan(4, 2)
		if l.PadY != 1 {
			t.Fatalf("pad y = %g, want 1", l.PadY)
		}
		dst := make([]float32, p.Len(l))
		if err := FillFloat32(p, img, l, dst); err != nil {
			t.Fatal(err)
		}
		at := func(x, y int) [3]float32 { i := (y*4 + x) * 3; return [3]float32{dst[i], dst[i+1], dst[i+2]} }
		if got := at(0, 0); got != [3]float32{-1, -1, -1} {
			t.Errorf("padding row = %v, want black = -1", got)
		}
		if got := at(0, 1); got != [3]float32{-1, -1, 1} {
			t.Errorf("blue pixel = %v, want RGB -1,-1,1", got)
		}
		if got := at(3, 2); got != [3]float32{1, -1, -1} {
			t.Errorf("red pixel = %v, want RGB 1,-1,-1", got)
		}
	})
	t.Run("uint8 nhwc rgb", func(t *testing.T) {
		p := convert.Preprocess{Layout: convert.NHWC, RGB: true, DType: convert.Uint8, Multiple: 1}
		l := p.Plan(4, 2)
		dst := make([]uint8, p.Len(l))
		if err := FillUint8(p, img, l, dst); err != nil {
			t.Fatal(err)
		}
		if dst[0] != 0 || dst[2] != 255 || dst[9] != 255 || dst[11] != 0 {
			t.Errorf("got %v, want blue then red in RGB order", dst[:12])
		}
	})
	t.Run("errors", func(t *testing.T) {
		p := convert.Preprocess{Width: 8, Height: 8}
		l := p.Plan(4, 2)
		if err := FillFloat32(p, img, l, make([]float32, 3)); err == nil {
			t.Error("short tensor accepted")
		}
		if err := FillFloat32(p, img, p.Plan(5, 5), make([]float32, 192)); err == nil {
			t.Error("plan for another size accepted")
		}
		empty := gocv.NewMat()
		defer empty.Close()
		if err := FillFloat32(p, empty, l, make([]float32, 192)); err == nil {
			t.Error("empty image accepted")
		}
		gray := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(1, 0, 0, 0), 2, 4, gocv.MatTypeCV8UC1)
		defer gray.Close()
		if err := FillFloat32(p, gray, l, make([]float32, 192)); err == nil {
			t.Error("single-channel image accepted")
		}
	})
}

// TestFillRegion feeds a non-continuous view (a Region) at its own size.
func TestFillRegion(t *testing.T) {
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(10, 20, 30, 0), 8, 8, gocv.MatTypeCV8UC3)
	defer img.Close()
	reg := img.Region(image.Rect(2, 2, 6, 6))
	defer reg.Close()
	p := convert.Preprocess{Multiple: 1, Layout: convert.NCHW}
	l := p.Plan(4, 4)
	dst := make([]float32, p.Len(l))
	if err := FillFloat32(p, reg, l, dst); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float32{10, 20, 30} {
		if dst[i*16+15] != want {
			t.Errorf("channel %d = %v, want %v", i, dst[i*16+15], want)
		}
	}
}

// TestFillMatchesLoop checks FillFloat32 against the per-pixel loop it
// replaced, bit for bit, on a real photo: every layout, channel order,
// normalisation and fit, a frame at its own size and a non-continuous view.
func TestFillMatchesLoop(t *testing.T) {
	photo := gocv.IMRead(testenv.Shared(t, "data/faces/messi5.jpg"), gocv.IMReadColor)
	defer photo.Close()
	if photo.Empty() {
		t.Fatal("photo did not load")
	}
	view := photo.Region(image.Rect(31, 17, photo.Cols()-40, photo.Rows()-9))
	defer view.Close()
	norms := map[string]struct{ mean, std [3]float32 }{
		"raw":      {},
		"[-1,1]":   {[3]float32{127.5, 127.5, 127.5}, [3]float32{127.5, 127.5, 127.5}},
		"/128":     {[3]float32{127, 127, 127}, [3]float32{128, 128, 128}},
		"imagenet": {[3]float32{123.675, 116.28, 103.53}, [3]float32{58.395, 57.12, 57.375}},
		"[0,1]":    {[3]float32{}, [3]float32{255, 255, 255}},
	}
	sizes := map[string]convert.Preprocess{
		"topleft":   {Width: 320, Height: 320, Fit: convert.FitTopLeft},
		"centre":    {Width: 128, Height: 160, Fit: convert.FitCentre},
		"stretch":   {Width: 200, Height: 120, Fit: convert.FitStretch},
		"upscale":   {Width: 1024, Height: 1024, Fit: convert.FitCentre, Interp: convert.InterpCubic},
		"dynamic":   {Multiple: 32},
		"dynamic64": {Multiple: 64, MaxSide: 300},
	}
	for _, img := range []struct {
		name string
		m    gocv.Mat
	}{{"photo", photo}, {"view", view}} {
		for sn, size := range sizes {
			for nn, norm := range norms {
				for _, layout := range []convert.Layout{convert.NCHW, convert.NHWC} {
					for _, rgb := range []bool{false, true} {
						p := size
						p.Layout, p.RGB, p.Mean, p.Std = layout, rgb, norm.mean, norm.std
						name := fmt.Sprintf("%s/%s/%s/%s/rgb=%v", img.name, sn, nn, layout, rgb)
						l := p.Plan(img.m.Cols(), img.m.Rows())
						want := make([]float32, p.Len(l))
						if err := fillFloat32Loop(p, img.m, l, want); err != nil {
							t.Fatalf("%s: loop: %v", name, err)
						}
						got := make([]float32, p.Len(l)+5) // longer than needed: the rest untouched
						for i := range got {
							got[i] = 42
						}
						if err := FillFloat32(p, img.m, l, got); err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						for i, w := range want {
							if math.Float32bits(got[i]) != math.Float32bits(w) {
								t.Fatalf("%s: value %d = %v, want %v", name, i, got[i], w)
							}
						}
						for i := len(want); i < len(got); i++ {
							if got[i] != 42 {
								t.Fatalf("%s: value %d beyond the tensor written", name, i)
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkFillFloat32 fills YuNet's tensor from a frame already shrunk to
// 640x360 (the video path), against the per-pixel loop.
func BenchmarkFillFloat32(b *testing.B) {
	img := gocv.NewMatWithSize(360, 640, gocv.MatTypeCV8UC3)
	defer img.Close()
	gocv.RandU(&img, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	p := convert.Preprocess{Multiple: 32, Layout: convert.NCHW}
	l := p.Plan(640, 360)
	dst := make([]float32, p.Len(l))
	b.Run("lut", func(b *testing.B) {
		for range b.N {
			if err := FillFloat32(p, img, l, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("loop", func(b *testing.B) {
		for range b.N {
			if err := fillFloat32Loop(p, img, l, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// fillFloat32Loop is FillFloat32 as a per-pixel Go loop (as it was before
// OpenCV did the work): the reference the faster one must match.
func fillFloat32Loop(p convert.Preprocess, img gocv.Mat, l convert.Letterbox, dst []float32) error {
	px, release, err := pixels(p, img, l)
	if err != nil {
		return err
	}
	defer release()
	var scale, offset [3]float32
	for c := range 3 {
		sd := p.Std[c]
		if sd == 0 {
			sd = 1
		}
		scale[c] = 1 / sd
		offset[c] = -p.Mean[c] / sd
	}
	plane := l.DstW * l.DstH
	for c := range 3 {
		if p.Layout == convert.NHWC {
			for i := c; i < 3*plane; i += 3 {
				dst[i] = offset[c]
			}
		} else {
			for i := c * plane; i < (c+1)*plane; i++ {
				dst[i] = offset[c]
			}
		}
	}
	ch := [3]int{0, 1, 2}
	if p.RGB {
		ch = [3]int{2, 1, 0}
	}
	px0, py0 := int(l.PadX), int(l.PadY)
	for y := 0; y < l.ContentH; y++ {
		row := px[y*l.ContentW*3 : (y+1)*l.ContentW*3]
		for x := 0; x < l.ContentW; x++ {
			s := row[x*3 : x*3+3]
			i := (y+py0)*l.DstW + px0 + x
			for c := range 3 {
				v := float32(s[ch[c]])*scale[c] + offset[c]
				if p.Layout == convert.NHWC {
					dst[i*3+c] = v
				} else {
					dst[c*plane+i] = v
				}
			}
		}
	}
	return nil
}
