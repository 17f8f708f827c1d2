package imageio

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
)

// encoded returns a small real image in format f (Go's encoders; BMP and
// TIFF headers by hand).
func encoded(t testing.TB, f Format, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	switch f {
	case JPEG:
		jpeg.Encode(&b, img, nil)
	case PNG:
		png.Encode(&b, img)
	case BMP:
		b.WriteString("BM")
		b.Write(make([]byte, 12))
		binary.Write(&b, binary.LittleEndian, [3]int32{40, int32(w), int32(h)})
	case TIFF:
		b.WriteString("II*\x00\x08\x00\x00\x00")
		binary.Write(&b, binary.LittleEndian, uint16(2))
		binary.Write(&b, binary.LittleEndian, [6]uint16{256, 3, 1, 0, uint16(w), 0})
		binary.Write(&b, binary.LittleEndian, [6]uint16{257, 3, 1, 0, uint16(h), 0})
		b.Write(make([]byte, 4))
	}
	return b.Bytes()
}

func TestSizeOfRealHeaders(t *testing.T) {
	for _, f := range []Format{JPEG, PNG, BMP, TIFF} {
		data := encoded(t, f, 37, 21)
		if got := Sniff(data); got != f {
			t.Errorf("%s: sniffed as %q", f, got)
			continue
		}
		w, h, err := Size(f, data)
		if err != nil || w != 37 || h != 21 {
			t.Errorf("%s: %dx%d (%v), want 37x21", f, w, h, err)
		}
	}
}

// FuzzSize: whatever the bytes, the header reader returns a positive size
// or an error, never a panic, and reads nothing past the data.
func FuzzSize(f *testing.F) {
	for _, fm := range []Format{JPEG, PNG, BMP, TIFF} {
		f.Add(encoded(f, fm, 37, 21))
	}
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\xff\xff\x00"))
	f.Add([]byte("\xff\xd8\xff\xc0\x00\x11\x08\xea\x60\xea\x60\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fm := Sniff(data)
		if fm == "" {
			return
		}
		w, h, err := Size(fm, data)
		if err == nil && (w <= 0 || h <= 0) {
			t.Fatalf("%s: size %dx%d without an error", fm, w, h)
		}
		Check(data, 0) // the frame count and the caps: no panic
		hasAlpha(fm, data)
	})
}
