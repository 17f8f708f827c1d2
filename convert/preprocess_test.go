package convert

import (
	"math"
	"testing"
)

// TestPlanRoundTrip checks that letterboxing is undone exactly: the source
// corners land on the tensor content's corners and map back.
func TestPlanRoundTrip(t *testing.T) {
	cases := []struct {
		name       string
		p          Preprocess
		srcW, srcH int
		// expected tensor size, content size and pad
		dstW, dstH, cw, ch int
		padX, padY         float64
	}{
		{"topleft wide", Preprocess{Width: 640, Height: 640, Fit: FitTopLeft}, 1024, 484, 640, 640, 640, 303, 0, 0},
		{"topleft tall", Preprocess{Width: 640, Height: 640, Fit: FitTopLeft}, 474, 503, 640, 640, 603, 640, 0, 0},
		{"centre wide", Preprocess{Width: 128, Height: 128, Fit: FitCentre}, 1024, 484, 128, 128, 128, 61, 0, 33},
		{"centre tall", Preprocess{Width: 128, Height: 128, Fit: FitCentre}, 300, 600, 128, 128, 64, 128, 32, 0},
		{"stretch", Preprocess{Width: 320, Height: 240, Fit: FitStretch}, 1000, 1000, 320, 240, 320, 240, 0, 0},
		{"dynamic /32", Preprocess{Multiple: 32}, 1024, 484, 1024, 512, 1024, 484, 0, 0},
		{"dynamic odd", Preprocess{Multiple: 32}, 33, 1, 64, 32, 33, 1, 0, 0},
		{"dynamic max side", Preprocess{Multiple: 32, MaxSide: 640}, 1920, 1080, 640, 384, 640, 360, 0, 0},
		{"upscale", Preprocess{Width: 256, Height: 256, Fit: FitCentre}, 64, 32, 256, 256, 256, 128, 0, 64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := c.p.Plan(c.srcW, c.srcH)
			if l.DstW != c.dstW || l.DstH != c.dstH || l.ContentW != c.cw || l.ContentH != c.ch || l.PadX != c.padX || l.PadY != c.padY {
				t.Fatalf("plan = %+v; want dst %dx%d content %dx%d pad %g,%g", l, c.dstW, c.dstH, c.cw, c.ch, c.padX, c.padY)
			}
			// The content's corners in tensor pixels map to the source corners.
			x, y := l.ToSource(float32(l.PadX), float32(l.PadY))
			x2, y2 := l.ToSource(float32(l.PadX)+float32(l.ContentW), float32(l.PadY)+float32(l.ContentH))
			if !near(x, 0) || !near(y, 0) || !near(x2, float32(c.srcW)) || !near(y2, float32(c.srcH)) {
				t.Errorf("content corners map to (%g,%g)-(%g,%g), want (0,0)-(%d,%d)", x, y, x2, y2, c.srcW, c.srcH)
			}
			// A box inside the source survives the round trip.
			b := Box{float32(c.srcW) / 4, float32(c.srcH) / 3, float32(c.srcW) / 2, float32(c.srcH) * 2 / 3}
			tb := Box{
				float32(float64(b.X1)*l.ScaleX + l.PadX), float32(float64(b.Y1)*l.ScaleY + l.PadY),
				float32(float64(b.X2)*l.ScaleX + l.PadX), float32(float64(b.Y2)*l.ScaleY + l.PadY),
			}
			if got := l.BoxToSource(tb); !near(got.X1, b.X1) || !near(got.Y1, b.Y1) || !near(got.X2, b.X2) || !near(got.Y2, b.Y2) {
				t.Errorf("round trip %v -> %v -> %v", b, tb, got)
			}
			// Boxes in the padding are clipped to the source.
			if got := l.BoxToSource(Box{-50, -50, float32(l.DstW) + 50, float32(l.DstH) + 50}); got != (Box{0, 0, float32(c.srcW), float32(c.srcH)}) {
				t.Errorf("oversized box clipped to %v, want the whole source", got)
			}
		})
	}
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-3*max(1, math.Abs(float64(b))) }
