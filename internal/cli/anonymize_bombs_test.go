package cli

import (
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
)

// TestFolderRunRefusesBombs: decompression bombs beside real photos. Each
// bomb is refused from its header (before OpenCV, which would abort the
// process on the patched headers and allocate 3 GiB for the real 2^30-pixel
// PNG), named in one error line; every real photo is written with its faces
// hidden, and the audit record is written.
func TestFolderRunRefusesBombs(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	in, out, audit := filepath.Join(root, "in"), filepath.Join(root, "out"), filepath.Join(root, "audit.json")
	bombs := map[string][]byte{
		"png-bomb.png":   testenv.PNGBomb(t, 60000, 60000, true),
		"png-badcrc.png": testenv.PNGBomb(t, 60000, 60000, false),
		"jpeg-bomb.jpg":  testenv.JPEGBomb(t, 60000, 60000),
		"bmp-bomb.bmp":   testenv.BMPBomb(t, 60000, 60000),
		"real-big.png":   testenv.BigPNG(t, 32768, 32768),
	}
	for name, data := range bombs {
		writeFile(t, filepath.Join(in, name), data)
	}
	photos := []string{"astronaut.png", "group_uf2.jpg"}
	for _, p := range photos {
		copyFile(t, shared(t, p), filepath.Join(in, p))
	}
	code, _, stderr := runCLI(t, "--config", cfg, "--out", out, "--style", "solid", "--audit", audit, "--jobs", "2", in)
	if code != exitSomeFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitSomeFailed, stderr)
	}
	for name := range bombs {
		want := "60000x60000"
		if name == "real-big.png" {
			want = "32768x32768"
		}
		if l := stderrLines(stderr, name); len(l) != 1 || !strings.Contains(l[0], "level=ERROR") || !strings.Contains(l[0], want) {
			t.Errorf("stderr names %s in %d lines, want one error line naming %s:\n%s", name, len(l), want, strings.Join(l, "\n"))
		}
	}
	if got := sortedKeys(treeState(t, out)); !slices.Equal(got, photos) {
		t.Errorf("outputs %q, want only the photos %q", got, photos)
	}
	a := readAudit(t, audit)
	if a.Summary.Done != len(photos) || a.Summary.Failed != len(bombs) {
		t.Errorf("audit summary %+v, want %d done and %d failed", a.Summary, len(photos), len(bombs))
	}
	for _, p := range photos {
		im := a.image(t, filepath.Join(in, p))
		if im.Status != "done" || len(im.Detections) == 0 {
			t.Errorf("%s: %+v, want done with faces found", p, im)
			continue
		}
		var boxes [][4]float64
		for _, d := range im.Detections {
			boxes = append(boxes, [4]float64{d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2})
		}
		if filepath.Ext(p) == ".png" { // lossless: the pixels compare exactly
			checkHidden(t, decode(t, filepath.Join(in, p)), decode(t, filepath.Join(out, p)), boxes, 1.3)
		}
	}
	for name := range bombs {
		if im := a.image(t, filepath.Join(in, name)); im.Status != "failed" || im.Output != "" {
			t.Errorf("%s: audit %+v, want failed with no output", name, im)
		}
	}
}

// TestWatchSurvivesBombs: a bomb in a watched folder at start, and another
// dropped in while it runs, are each refused with one error line; the
// watch goes on (a photo dropped in after is written), exits 1 for the
// failures, and a restart with the bombs still there runs as well. A
// lowered max_pixels in the config applies: a real photo over it is
// refused too, naming its size.
func TestWatchSurvivesBombs(t *testing.T) {
	cfg := watchConfig(t, t.TempDir(), false, "max_pixels = 1000000") // 1 MP
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	os.MkdirAll(out, 0o755)
	atStart, dropped := filepath.Join(in, "at-start.png"), filepath.Join(in, "sub", "dropped.jpg")
	writeFile(t, atStart, testenv.PNGBomb(t, 60000, 60000, true))
	copyFile(t, shared(t, "astronaut.png"), filepath.Join(in, "astronaut.png")) // 512x512: under 1 MP
	args := []string{"--config", cfg, "--watch", in, "--out", out, "--style", "solid"}

	r := startCLI(t, args...)
	waitFile(t, filepath.Join(out, "astronaut.png"), 30*time.Second)
	r.stderr.WaitFor(t, "file="+atStart+" status=failed", 30*time.Second)
	writeFile(t, dropped, testenv.JPEGBomb(t, 60000, 60000))
	r.stderr.WaitFor(t, "file="+dropped+" status=failed", 30*time.Second)
	big := filepath.Join(in, "big.png") // a real photo of 1200x1200: over 1 MP
	writePNG(t, big, 1200, 1200, func(x, y int) color.NRGBA { return color.NRGBA{uint8(x), uint8(y), 0, 255} })
	r.stderr.WaitFor(t, "file="+big+" status=failed", 30*time.Second)
	copyFile(t, shared(t, "group_uf2.jpg"), filepath.Join(in, "group_uf2.jpg"))
	waitFile(t, filepath.Join(out, "group_uf2.jpg"), 30*time.Second)
	if code := r.stop(t); code != exitSomeFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitSomeFailed, r.stderr)
	}
	stderr := r.stderr.String()
	for f, size := range map[string]string{atStart: "60000x60000", dropped: "60000x60000", big: "1200x1200"} {
		if l := stderrLines(stderr, f); len(l) != 1 || !strings.Contains(l[0], "level=ERROR") || !strings.Contains(l[0], size) {
			t.Errorf("stderr names %s in %d lines, want one error line naming %s:\n%s", f, len(l), size, stderr)
		}
	}
	if !strings.Contains(stderr, "2 written, 0 skipped (up to date), 3 failed") {
		t.Errorf("summary: want 2 written, 3 failed:\n%s", stderr)
	}

	// A restart meets the bombs again, and survives them again.
	r = startCLI(t, args...)
	r.stderr.WaitFor(t, "file="+dropped+" status=failed", 30*time.Second)
	r.stderr.WaitFor(t, "file="+atStart+" status=failed", 30*time.Second)
	if code := r.stop(t); code != exitSomeFailed {
		t.Fatalf("restart: exit %d, want %d; stderr:\n%s", code, exitSomeFailed, r.stderr)
	}
}
