package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/imageio"
	"github.com/anonymize/anonymize/video/internal/videotest"
)

// TestEncoder: frames of the wrong size are refused, Abort and a Close
// without frames leave nothing, and a clean Close puts the file in place.
func TestEncoder(t *testing.T) {
	videotest.NeedFFmpeg(t)
	dir := t.TempDir()
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(40, 80, 120, 0), 48, 64, gocv.MatTypeCV8UC3)
	defer frame.Close()

	e, err := NewEncoder(filepath.Join(dir, "empty.mp4"), 64, 48, 25, EncodeOptions{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err == nil {
		t.Error("Close with no frames: no error")
	}

	e, err = NewEncoder(filepath.Join(dir, "aborted.mp4"), 64, 48, 25, EncodeOptions{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	small := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC3)
	if err := e.Write(small); err == nil {
		t.Error("a 10x10 frame into a 64x48 encoder: no error")
	}
	small.Close()
	if err := e.Write(frame); err != nil {
		t.Fatal(err)
	}
	e.Abort()
	e.Abort()
	if err := e.Close(); err == nil {
		t.Error("Close after Abort: no error")
	}
	if l := videotest.Leftovers(t, dir); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}

	out := filepath.Join(dir, "ok.mp4")
	e, err = NewEncoder(out, 64, 48, 29.97, EncodeOptions{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := e.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output exists before Close (err %v)", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	info, err := Probe(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Frames != 30 || info.FrameRate != (Rational{30000, 1001}) || info.DisplayWidth != 64 || info.DisplayHeight != 48 {
		t.Errorf("probe %+v, want 30 frames of 64x48 at 30000/1001", info)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	if l := videotest.Leftovers(t, dir, "ok.mp4"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// TestRawFrameColours: frames pass the pipes as I420 when both sides are
// even and as BGR when not; either way a frame written comes back with its
// colours, and a decoded frame matches ffmpeg's own conversion to BGR.
func TestRawFrameColours(t *testing.T) {
	videotest.NeedFFmpeg(t)
	photo, err := imageio.Read(testenv.Shared(t, "data/faces/astronaut.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer photo.Close()
	for _, size := range []image.Point{{512, 384}, {321, 241}} {
		t.Run(fmt.Sprintf("%dx%d", size.X, size.Y), func(t *testing.T) {
			reg := photo.Region(image.Rect(0, 0, size.X, size.Y))
			frame := reg.Clone()
			reg.Close()
			defer frame.Close()
			out := filepath.Join(t.TempDir(), "out.mp4")
			e, err := NewEncoder(out, size.X, size.Y, 25, EncodeOptions{Preset: "ultrafast", CRF: 1})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if err := e.Write(frame); err != nil {
					e.Abort()
					t.Fatal(err)
				}
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			got := firstFrame(t, out)
			defer got.Close()
			if d := meanAbsDiff(got, frame); d > 3 {
				t.Errorf("decoded frame differs from the frame written by %.2f on average", d)
			}
			raw, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", out, "-frames:v", "1",
				"-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1").Output()
			if err != nil {
				t.Fatal(err)
			}
			ref, err := gocv.NewMatFromBytes(size.Y, size.X, gocv.MatTypeCV8UC3, raw)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			if d := meanAbsDiff(got, ref); d > 1.5 {
				t.Errorf("decoded frame differs from ffmpeg's BGR by %.2f on average", d)
			}
		})
	}
}

// meanAbsDiff is the mean absolute difference of two BGR images, over
// pixels and channels.
func meanAbsDiff(a, b gocv.Mat) float64 {
	diff := gocv.NewMat()
	defer diff.Close()
	gocv.AbsDiff(a, b, &diff)
	m := diff.Mean()
	return (m.Val1 + m.Val2 + m.Val3) / 3
}

// firstFrame decodes the first frame of path, upright.
func firstFrame(t testing.TB, path string) gocv.Mat {
	t.Helper()
	info, err := Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(context.Background(), info)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.Read()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return f.Mat
}

// TestCheckEncoder: an encoder ffmpeg has passes; one it lacks is refused,
// naming some that it has.
func TestCheckEncoder(t *testing.T) {
	videotest.NeedFFmpeg(t)
	if err := CheckEncoder("libx264"); err != nil {
		t.Errorf("libx264: %v", err)
	}
	err := CheckEncoder("no-such-encoder")
	if !errors.Is(err, ErrNoEncoder) || !strings.Contains(err.Error(), `"no-such-encoder"`) || !strings.Contains(err.Error(), "libx264") || !strings.Contains(err.Error(), "mpeg4") {
		t.Errorf("no-such-encoder: %v, want ErrNoEncoder naming it and libx264, mpeg4", err)
	}
}
