package batch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/internal/videotest"
)

// TestRunRefusesBombs: images whose headers declare more pixels than
// MaxPixels each fail, naming their size, beside a real photo that is
// written; nothing is written for a bomb.
func TestRunRefusesBombs(t *testing.T) {
	det := loadYunet(t, 1)
	in, out := t.TempDir(), t.TempDir()
	bombs := map[string][]byte{
		"png.png":   testenv.PNGBomb(t, 60000, 60000, true),
		"jpeg.jpg":  testenv.JPEGBomb(t, 60000, 60000),
		"bmp.bmp":   testenv.BMPBomb(t, 60000, 60000),
		"big.png":   testenv.BigPNG(t, 32768, 32768),
		"ppm.png":   []byte("P6\n2 2\n255\n" + strings.Repeat("\x80", 12)), // not an accepted format
		"small.png": testenv.PNGBomb(t, 8000, 8000, true),                  // 64 MP: over the default cap
	}
	var tasks []Task
	for name, data := range bombs {
		if err := os.WriteFile(filepath.Join(in, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, Task{Input: filepath.Join(in, name), Output: filepath.Join(out, name)})
	}
	photo := testenv.Shared(t, "data/faces/astronaut.png")
	tasks = append(tasks, Task{Input: photo, Output: filepath.Join(out, "astronaut.png")})
	results := map[string]ImageResult{}
	sum := Run(context.Background(), det, tasks, Options{JPEGQuality: 90, Jobs: 2, Hide: solidBlack},
		func(r ImageResult) { results[filepath.Base(r.Input)] = r })
	if sum.Done != 1 || sum.Failed != len(bombs) {
		t.Errorf("summary %+v, want 1 done and %d failed", sum, len(bombs))
	}
	for name := range bombs {
		r := results[name]
		want := map[string]string{"ppm.png": "supported format", "small.png": "8000x8000", "big.png": "32768x32768"}[name]
		if want == "" {
			want = "60000x60000"
		}
		if r.Status != StatusFailed || !strings.Contains(r.Error, want) || r.Output != "" {
			t.Errorf("%s: %+v, want failed with an error naming %q, no output", name, r, want)
		}
		if _, err := os.Stat(filepath.Join(out, name)); !os.IsNotExist(err) {
			t.Errorf("%s: output exists (%v)", name, err)
		}
	}
	if r := results["astronaut.png"]; r.Status != StatusDone || len(r.Detections) == 0 {
		t.Errorf("the real photo: %+v, want done with its face hidden", r)
	}
	// The cap is the caller's: the real photo is refused under a cap one
	// pixel below its size.
	results = map[string]ImageResult{}
	Run(context.Background(), det, tasks[len(tasks)-1:], Options{Overwrite: true, MaxPixels: 512*512 - 1, Hide: solidBlack},
		func(r ImageResult) { results[filepath.Base(r.Input)] = r })
	if r := results["astronaut.png"]; r.Status != StatusFailed || !strings.Contains(r.Error, "512x512") {
		t.Errorf("the real photo over a cap of 512x512-1: %+v, want failed naming 512x512", r)
	}
}

// TestVideoOverMaxPixels: a video whose frames are over the cap is refused
// from its probe, naming the file and the frame size, with nothing written.
func TestVideoOverMaxPixels(t *testing.T) {
	videotest.NeedFFmpeg(t)
	in := videotest.MakeClip(t, t.TempDir(), videotest.ClipSpec{Name: "clip.mp4", W: 320, H: 240, Seconds: 0.2, Rate: "25", VideoCodec: videotest.X264})
	out := filepath.Join(t.TempDir(), "clip.mp4")
	o := Options{Hide: solidBlack, MaxPixels: 320*240 - 1, Video: VideoOptions{Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}}}
	r := Process(context.Background(), nopDetector{}, Task{Input: in, Output: out}, o)
	if r.Status != StatusFailed || !strings.Contains(r.Error, in) || !strings.Contains(r.Error, "320x240") || !strings.Contains(r.Error, "max_pixels") {
		t.Errorf("record %+v, want failed naming the file, 320x240 and max_pixels", r)
	}
	if l := videotest.Leftovers(t, filepath.Dir(out)); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	o.MaxPixels = 320 * 240
	if r := Process(context.Background(), nopDetector{}, Task{Input: in, Output: out}, o); r.Status != StatusDone {
		t.Errorf("at the cap: %+v, want done", r)
	}
}
