package batch

import (
	"context"
	"errors"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// failingDetector stands in for a model whose inference fails.
type failingDetector struct{}

func (failingDetector) Detect(gocv.Mat) ([]convert.Detection, error) {
	return nil, errors.New("forced inference error")
}
func (f failingDetector) DetectInfo(m gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	d, err := f.Detect(m)
	return d, f.Info(), err
}
func (failingDetector) Info() convert.ModelInfo { return convert.ModelInfo{Name: "failing"} }
func (failingDetector) Close() error            { return nil }

// TestFailClosed: an image the detector could not process is never written
// as it was: hidden whole (and counted), or not written at all.
func TestFailClosed(t *testing.T) {
	in := testenv.Shared(t, "data/faces/astronaut.png")
	for _, drop := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "astronaut.png")
		var got []ImageResult
		sum := Run(context.Background(), failingDetector{}, []Task{{Input: in, Output: out}}, Options{
			JPEGQuality: 90, Jobs: 1, DropOnError: drop,
			Hide: hide.Options{Style: hide.Solid, Colour: color.RGBA{A: 255}},
		}, func(r ImageResult) { got = append(got, r) })
		if sum.Problems() != 1 || sum.Done != 0 {
			t.Errorf("drop=%v: summary %+v, want one problem and nothing done", drop, sum)
		}
		if len(got) != 1 || got[0].Error == "" {
			t.Fatalf("drop=%v: results %+v, want one with an error", drop, got)
		}
		if drop {
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("drop: output exists (err %v), want nothing written", err)
			}
			if got[0].Status != StatusDropped {
				t.Errorf("drop: status %q", got[0].Status)
			}
			continue
		}
		if got[0].Status != StatusHiddenWhole {
			t.Errorf("status %q, want %q", got[0].Status, StatusHiddenWhole)
		}
		img, err := imageio.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		gray := gocv.NewMat()
		gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
		if n := gocv.CountNonZero(gray); n != 0 {
			t.Errorf("%d pixels not hidden in a frame the detector failed on", n)
		}
		gray.Close()
		img.Close()
	}
}
