package testenv

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// TestBigPNGIsValid decodes a small BigPNG with Go's own decoder: the
// generator writes a real image, not a patched header.
func TestBigPNGIsValid(t *testing.T) {
	img, err := png.Decode(bytes.NewReader(BigPNG(t, 301, 7)))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok || g.Bounds().Dx() != 301 || g.Bounds().Dy() != 7 {
		t.Fatalf("decoded %T %v, want a 301x7 grey image", img, img.Bounds())
	}
	for _, p := range g.Pix {
		if p != 0 {
			t.Fatal("a pixel is not black")
		}
	}
}

func TestBombHeaders(t *testing.T) {
	for name, data := range map[string][]byte{
		"png": PNGBomb(t, 60000, 60000, true), "png-bad-crc": PNGBomb(t, 60000, 60000, false),
		"jpeg": JPEGBomb(t, 60000, 60000), "big-png": BigPNG(t, 60000, 60000),
	} {
		c, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil && name != "png-bad-crc" {
			t.Errorf("%s: %v", name, err)
		} else if err == nil && (c.Width != 60000 || c.Height != 60000) {
			t.Errorf("%s: declares %dx%d, want 60000x60000", name, c.Width, c.Height)
		}
	}
}
