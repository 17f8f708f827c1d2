package infer_test

import (
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
)

// TestThresholdBands: on a crowd photo at half size, bands keep the small faces at a low
// score that a uniform high threshold drops, and judge each box by its
// height in the source: told the photo was shrunk 100 times (every box then
// being huge in the source), the model keeps only what the high threshold
// keeps.
func TestThresholdBands(t *testing.T) {
	rt := newRuntime(t)
	dir := modelDir(t, "yunet-n-dynamic")
	bands := convert.Bands{{MaxHeight: 30, Threshold: 0.2}, {MaxHeight: 0, Threshold: 0.8}}
	banded := load(t, rt, dir, infer.LoadOptions{Bands: bands})
	high := load(t, rt, dir, infer.LoadOptions{Threshold: 0.8})
	photo := readPhoto(t, "faces/wider-dev/20--Family_Group/20_Family_Group_Family_Group_20_672.jpg")
	img := gocv.NewMat() // at half size, most of its 67 faces are under 30 px
	defer img.Close()
	gocv.Resize(photo, &img, image.Pt(photo.Cols()/2, photo.Rows()/2), 0, 0, gocv.InterpolationArea)

	hd, err := high.Detect(img)
	if err != nil {
		t.Fatal(err)
	}
	bd, err := banded.Detect(img)
	if err != nil {
		t.Fatal(err)
	}
	var small int
	for _, d := range bd {
		switch h := d.Box.H(); {
		case h < 30:
			small++
			if d.Score < 0.2 {
				t.Errorf("a %.0f-px box at %.2f, under its band's 0.2", h, d.Score)
			}
		case d.Score < 0.8:
			t.Errorf("a %.0f-px box at %.2f, under the top band's 0.8", h, d.Score)
		}
	}
	if len(bd) < len(hd)+5 || small < 5 {
		t.Errorf("bands kept %d boxes (%d small), 0.8 alone %d: want the small faces too", len(bd), small, len(hd))
	}
	sd, _, err := banded.DetectScaled(img, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd) != len(hd) {
		t.Errorf("scale 100: %d boxes, want the %d of 0.8 (every box is tall in the source)", len(sd), len(hd))
	}
	if info := banded.Info(); info.Bands.String() != bands.String() || info.Threshold != 0.8 {
		t.Errorf("Info: threshold %g, bands %s", info.Threshold, info.Bands)
	}
	if _, err := rt.Load(dir, infer.LoadOptions{Bands: convert.Bands{{MaxHeight: 20, Threshold: 0.1}}}); err == nil {
		t.Error("bands without an open last band loaded")
	}
}
