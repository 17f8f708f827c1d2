package imageio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// pngWithICCP is a small RGB PNG (plain, as image/png writes it) and the
// same file with an iCCP chunk after IHDR whose profile libpng rejects
// ("iCCP: too short"), as editors' files often carry one it dislikes.
func pngWithICCP(t *testing.T) (plain, withICCP []byte) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 16, 8))
	for y := range 8 {
		for x := range 16 {
			img.SetNRGBA(x, y, color.NRGBA{uint8(16 * x), uint8(32 * y), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	plain = b.Bytes()
	body := append([]byte("bogus\x00\x00"), 0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01) // zlib of nothing
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	chunk = append(chunk, "iCCP"...)
	chunk = append(chunk, body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	ihdrEnd := 8 + 12 + 13
	withICCP = append(append(append([]byte{}, plain[:ihdrEnd]...), chunk...), plain[ihdrEnd:]...)
	return plain, withICCP
}

// TestWithoutICCP: the iCCP chunk, and nothing else, is taken out before
// OpenCV decodes a PNG, so the pixels are those of the same file without
// it; other data passes untouched, a chunk running past the end too.
func TestWithoutICCP(t *testing.T) {
	plain, withICCP := pngWithICCP(t)
	if got := withoutICCP(withICCP); !bytes.Equal(got, plain) {
		t.Fatalf("stripped PNG is %d bytes, want the %d of the file without the chunk", len(got), len(plain))
	}
	if got := withoutICCP(plain); &got[0] != &plain[0] {
		t.Error("a PNG without iCCP was copied")
	}
	jpeg := []byte("\xff\xd8\xff\xe0 iCCP in a JPEG comment")
	if got := withoutICCP(jpeg); !bytes.Equal(got, jpeg) {
		t.Error("non-PNG data changed")
	}
	truncated := withICCP[:8+12+13+10] // inside the iCCP chunk
	if got := withoutICCP(truncated); !bytes.Equal(got, truncated) {
		t.Error("a truncated chunk was not left for the decoder to judge")
	}
	a, err := Decode(withICCP)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Decode(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !bytes.Equal(a.ToBytes(), b.ToBytes()) {
		t.Error("the PNG with iCCP decodes to other pixels than without it")
	}
}
