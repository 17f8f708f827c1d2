package imageio

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/internal/testenv"
)

// withExif inserts an APP1 Exif segment (orientation tag, and a GPS IFD
// pointer standing in for location data) right after the JPEG's SOI marker.
func withExif(t *testing.T, jpeg []byte, orientation uint16) []byte {
	t.Helper()
	if len(jpeg) < 2 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		t.Fatal("not a JPEG")
	}
	var tiff bytes.Buffer
	le := binary.LittleEndian
	tiff.WriteString("II")
	binary.Write(&tiff, le, uint16(42))
	binary.Write(&tiff, le, uint32(8)) // IFD0 offset
	binary.Write(&tiff, le, uint16(2)) // two entries
	// Orientation (0x0112), SHORT, count 1, value.
	binary.Write(&tiff, le, uint16(0x0112))
	binary.Write(&tiff, le, uint16(3))
	binary.Write(&tiff, le, uint32(1))
	binary.Write(&tiff, le, uint16(orientation))
	binary.Write(&tiff, le, uint16(0))
	// GPSInfo IFD pointer (0x8825), LONG, pointing at an empty IFD.
	binary.Write(&tiff, le, uint16(0x8825))
	binary.Write(&tiff, le, uint16(4))
	binary.Write(&tiff, le, uint32(1))
	binary.Write(&tiff, le, uint32(38))
	binary.Write(&tiff, le, uint32(0)) // no next IFD
	binary.Write(&tiff, le, uint16(0)) // GPS IFD: no entries
	binary.Write(&tiff, le, uint32(0))
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{0xFF, 0xD8}, seg...)
	out = append(out, payload...)
	return append(out, jpeg[2:]...)
}

func TestMetadataNotCopiedAndOrientationApplied(t *testing.T) {
	src, err := Read(testenv.Shared(t, "data/faces/group_uf2.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	plain, err := Encode(src, ".jpg", 95)
	if err != nil {
		t.Fatal(err)
	}
	// Orientation 6: the stored pixels must be rotated 90° clockwise to display.
	tagged := withExif(t, plain, 6)
	img, err := Decode(tagged)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Cols() != src.Rows() || img.Rows() != src.Cols() {
		t.Errorf("orientation 6 decoded as %dx%d, want the rotated %dx%d", img.Cols(), img.Rows(), src.Rows(), src.Cols())
	}
	out, err := Encode(img, ".jpg", 95)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(tagged, []byte("Exif\x00\x00")) {
		t.Fatal("test input lacks its Exif segment")
	}
	if bytes.Contains(out, []byte("Exif")) {
		t.Error("output JPEG carries an Exif segment: metadata (GPS included) must not be copied")
	}
	// Re-reading the output gives the upright pixels as they are.
	back, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if back.Cols() != img.Cols() || back.Rows() != img.Rows() {
		t.Errorf("output is %dx%d, want %dx%d", back.Cols(), back.Rows(), img.Cols(), img.Rows())
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := os.ReadFile(testenv.Shared(t, "data/faces/messi5.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":   {},
		"garbage": []byte("this is not an image at all, just some text"),
		"header":  good[:20],
		// OpenCV decodes a cut-off JPEG without complaint, inventing the
		// missing rows; it must count as unreadable.
		"truncated half": good[:len(good)/2],
		"truncated end":  good[:len(good)-2],
	} {
		m, err := Decode(data)
		if err == nil {
			t.Errorf("%s: decoded to %dx%d, want an error", name, m.Cols(), m.Rows())
			m.Close()
		}
	}
	// Bytes after the end-of-image marker are harmless.
	m, err := Decode(append(append([]byte{}, good...), "trailing junk"...))
	if err != nil {
		t.Errorf("JPEG with trailing bytes: %v", err)
	}
	m.Close()
	if _, err := Read(filepath.Join(t.TempDir(), "missing.jpg")); !os.IsNotExist(err) {
		t.Errorf("missing file: err = %v, want not-exist", err)
	}
}

func TestEncodeFormats(t *testing.T) {
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 255, 0), 16, 24, gocv.MatTypeCV8UC3)
	defer img.Close()
	for _, ext := range []string{".jpg", ".jpeg", ".png", ".bmp", ".tiff", ".webp"} {
		data, err := Encode(img, ext, 90)
		if err != nil {
			t.Errorf("%s: %v", ext, err)
			continue
		}
		back, err := Decode(data)
		if err != nil {
			t.Errorf("%s: decode own output: %v", ext, err)
			continue
		}
		if back.Cols() != 24 || back.Rows() != 16 {
			t.Errorf("%s: %dx%d, want 24x16", ext, back.Cols(), back.Rows())
		}
		back.Close()
	}
	if _, err := Encode(img, ".gif", 90); err == nil {
		t.Error(".gif accepted")
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := Encode(empty, ".png", 90); err == nil {
		t.Error("empty image encoded")
	}
}
