package imageio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
)

// TestDecodeRefusesBombs: files whose headers declare more pixels than
// the cap are refused from the header, before OpenCV sees them. Over
// OpenCV's own limit (2^30 pixels, 2^20 a side) its decoder would throw a
// C++ exception through cgo and abort the whole process; under it, it
// would allocate the pixels (3 GiB for the real 32768x32768 PNG).
func TestDecodeRefusesBombs(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		max  int64
		size string
	}{
		{"png", testenv.PNGBomb(t, 60000, 60000, true), 0, "60000x60000"},
		{"png, CRC not fixed", testenv.PNGBomb(t, 60000, 60000, false), 0, "60000x60000"},
		{"jpeg", testenv.JPEGBomb(t, 60000, 60000), 0, "60000x60000"},
		{"bmp", testenv.BMPBomb(t, 60000, 60000), 0, "60000x60000"},
		{"bmp, top-down", testenv.BMPBomb(t, 60000, -60000), 0, "60000x60000"},
		{"real png of 2^30 pixels", testenv.BigPNG(t, 32768, 32768), 0, "32768x32768"},
		// Under a cap raised to the most config allows, OpenCV's own
		// limits still hold: more than 2^20 pixels a side, or 2^30 in all.
		{"one long row", testenv.PNGBomb(t, 1<<21, 1, true), 1 << 31, "2097152x1"},
		{"over OpenCV's total", testenv.PNGBomb(t, 40000, 40000, true), 1 << 31, "40000x40000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeMax(tc.data, tc.max)
			if err == nil {
				m.Close()
				t.Fatalf("decoded as %dx%d, want it refused", m.Cols(), m.Rows())
			}
			if !errors.Is(err, ErrDecode) || !errors.Is(err, ErrTooManyPixels) || !strings.Contains(err.Error(), tc.size) {
				t.Errorf("error %q, want ErrDecode and ErrTooManyPixels naming the size %s", err, tc.size)
			}
		})
	}
}

// TestReadMaxCap: the cap is the caller's (max_pixels), and an image at
// it is read.
func TestReadMaxCap(t *testing.T) {
	src, err := Read(testenv.Shared(t, "data/faces/astronaut.png"))
	if err != nil {
		t.Fatal(err)
	}
	px := int64(src.Cols() * src.Rows())
	src.Close()
	m, err := ReadMax(testenv.Shared(t, "data/faces/astronaut.png"), px)
	if err != nil {
		t.Fatalf("at the cap: %v", err)
	}
	m.Close()
	m, err = ReadMax(testenv.Shared(t, "data/faces/astronaut.png"), px-1)
	if err == nil {
		m.Close()
		t.Fatal("one pixel over the cap: read, want refused")
	}
	if !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("over the cap: %v, want ErrTooManyPixels", err)
	}
}

// TestDecodeRefusesOtherFormats: data that is none of the accepted formats
// is refused, never handed to OpenCV's other decoders (here a PPM, which
// OpenCV reads, under a .png name).
func TestDecodeRefusesOtherFormats(t *testing.T) {
	p := filepath.Join(t.TempDir(), "photo.png")
	if err := os.WriteFile(p, []byte("P6\n2 2\n255\n"+strings.Repeat("\x80", 12)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Read(p)
	if err == nil {
		m.Close()
		t.Fatal("a PPM file was decoded, want it refused")
	}
	if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "supported format") {
		t.Errorf("error %q, want ErrDecode saying the format is not supported", err)
	}
}

// TestIsTempName: the names of our own temporary outputs, and only those.
func TestIsTempName(t *testing.T) {
	dir := t.TempDir()
	// A name as WriteFileAtomic makes it, caught before its rename.
	f, err := os.CreateTemp(dir, ".photo.jpg.tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for name, want := range map[string]bool{
		filepath.Base(f.Name()):                true,
		".photo.png.tmp-123":                   true,
		".clip.tmp-4567.mp4":                   true, // ffmpeg.NewEncoder's
		".2026-01-01T00-00-00.000Z.tmp-99.mp4": true,
		".photo.png":                           false,
		"photo.png.tmp-123":                    false, // not hidden: not ours
		".notes.tmp-123":                       false, // no image extension
		".photo.png.tmp-":                      false,
		".photo.png.tmp-12a":                   false,
		".clip.tmp-12.txt":                     false,
		".tmp-12.mp4":                          false,
	} {
		if got := IsTempName(name); got != want {
			t.Errorf("IsTempName(%q) = %v, want %v", name, got, want)
		}
	}
}
