package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
)

// TestQuietStderrIsQuiet: a --quiet run of the binary (main in a child
// process, so that what C libraries write on file descriptor 2 is caught)
// on a PNG carrying an ICC profile libpng warns about prints nothing on
// stderr, with the default providers (TensorRT and CUDA unavailable on
// this build) and exit 0: neither libpng's warning nor the providers'
// fallback reach it.
func TestQuietStderrIsQuiet(t *testing.T) {
	testenv.Model(t, "yunet-n-dynamic")
	cfg := filepath.Join(testenv.RepoRoot(), "config.toml")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "profile.png"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, iccpPNG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfg, "-q", "--out", out, in}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainHelperProcess$")
	cmd.Env = append(os.Environ(), "TEST_ANONYMIZE_MAIN_HELPER="+strings.Join(args, "\n"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("anonymize -q: %v; stderr:\n%s", err, stderr.String())
	}
	if s := stderr.String(); s != "" {
		t.Errorf("a --quiet run wrote on stderr:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(out, "profile.png")); err != nil {
		t.Errorf("no output: %v", err)
	}
}

// iccpPNG is a small PNG with an iCCP chunk libpng rejects as too short
// ("libpng warning: iCCP: too short" on stderr when OpenCV decodes it).
func iccpPNG(t *testing.T) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.SetNRGBA(x, y, color.NRGBA{uint8(4 * x), uint8(5 * y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	body := append([]byte("bogus\x00\x00"), 0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	chunk = append(append(chunk, "iCCP"...), body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	ihdrEnd := 8 + 12 + 13
	return append(append(append([]byte{}, b.Bytes()[:ihdrEnd]...), chunk...), b.Bytes()[ihdrEnd:]...)
}
