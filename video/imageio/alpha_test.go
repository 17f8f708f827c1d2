package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"testing"

	"gocv.io/x/gocv"
)

// rgbaPNG is a w x h PNG with a colour gradient and an alpha ramp, 8 or 16
// bits a channel.
func rgbaPNG(t *testing.T, w, h int, sixteen bool) []byte {
	t.Helper()
	var img image.Image
	if sixteen {
		m := image.NewNRGBA64(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				m.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 2000), uint16(y * 2000), 30000, uint16((x + y) * 1000)})
			}
		}
		img = m
	} else {
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				m.SetNRGBA(x, y, color.NRGBA{uint8(x * 6), uint8(y * 8), 120, uint8((x + y) * 3)})
			}
		}
		img = m
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestAlphaKept: an RGBA PNG decodes to its colour and its alpha apart;
// hiding paints the colour only, and the encoded PNG has the same alpha
// as the input, pixel for pixel (8-bit input), or to within a step of the
// 16-to-8-bit scaling (16-bit input).
func TestAlphaKept(t *testing.T) {
	for _, sixteen := range []bool{false, true} {
		data := rgbaPNG(t, 40, 30, sixteen)
		bgr, alpha, err := DecodeAlphaMax(data, 0)
		if err != nil {
			t.Fatal(err)
		}
		if bgr.Channels() != 3 || alpha.Channels() != 1 || alpha.Rows() != 30 || alpha.Cols() != 40 {
			t.Fatalf("decoded %d channels and an alpha of %dx%d, want BGR and a 40x30 alpha", bgr.Channels(), alpha.Cols(), alpha.Rows())
		}
		region := bgr.Region(image.Rect(5, 5, 20, 20))
		region.SetTo(gocv.NewScalar(0, 0, 0, 0)) // a hidden face, solid black
		region.Close()
		out, err := EncodeAlpha(bgr, alpha, ".png", 95)
		bgr.Close()
		alpha.Close()
		if err != nil {
			t.Fatal(err)
		}
		in, _ := png.Decode(bytes.NewReader(data))
		got, err := png.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		for y := range 30 {
			for x := range 40 {
				_, _, _, wa := in.At(x, y).RGBA()
				r, g, b, ga := color.NRGBAModel.Convert(got.At(x, y)).RGBA()
				if d := int(wa>>8) - int(ga>>8); d < -1 || d > 1 || (!sixteen && d != 0) {
					t.Fatalf("16-bit %v: alpha at (%d, %d) is %d, want %d", sixteen, x, y, ga>>8, wa>>8)
				}
				if x >= 5 && x < 20 && y >= 5 && y < 20 && r|g|b != 0 && ga != 0 {
					t.Fatalf("16-bit %v: hidden pixel (%d, %d) is not black: %d %d %d", sixteen, x, y, r>>8, g>>8, b>>8)
				}
			}
		}
	}
	// Without alpha (a JPEG output has none) the colour alone is written.
	bgr, alpha, err := DecodeAlphaMax(rgbaPNG(t, 8, 8, false), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bgr.Close()
	defer alpha.Close()
	if _, err := EncodeAlpha(bgr, alpha, ".jpg", 90); err != nil {
		t.Errorf("RGBA to JPEG: %v", err)
	}
}

// TestSeveralFramesRefused: an animated PNG and a multi-page TIFF are
// refused, naming what they are, rather than anonymized in their first
// frame alone.
func TestSeveralFramesRefused(t *testing.T) {
	still := rgbaPNG(t, 4, 4, false)
	// An acTL chunk after IHDR makes an APNG.
	actl := make([]byte, 8)
	binary.BigEndian.PutUint32(actl, 2)
	var chunk bytes.Buffer
	binary.Write(&chunk, binary.BigEndian, uint32(len(actl)))
	chunk.WriteString("acTL")
	chunk.Write(actl)
	binary.Write(&chunk, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("acTL"), actl...)))
	apng := append(append(bytes.Clone(still[:33]), chunk.Bytes()...), still[33:]...)

	// A TIFF whose first directory links to a second one.
	var tiff bytes.Buffer
	le := binary.LittleEndian
	tiff.WriteString("II*\x00")
	binary.Write(&tiff, le, uint32(8))
	for _, next := range []uint32{38, 0} {
		binary.Write(&tiff, le, uint16(2))
		binary.Write(&tiff, le, [6]uint16{256, 3, 1, 0, 4, 0})
		binary.Write(&tiff, le, [6]uint16{257, 3, 1, 0, 4, 0})
		binary.Write(&tiff, le, next)
	}
	for name, data := range map[string][]byte{"APNG": apng, "multi-page TIFF": tiff.Bytes()} {
		if _, _, _, err := Check(data, 0); !errors.Is(err, ErrAnimated) {
			t.Errorf("%s: %v, want ErrAnimated", name, err)
		}
	}
	if _, _, _, err := Check(still, 0); err != nil {
		t.Errorf("a still PNG: %v", err)
	}
}
