package video

import (
	"encoding/json"
	"image"
	"os"
	"slices"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/imageio"
)

// TestScheduleTiles: the tiles of a 1080p frame cover every pixel, each
// neighbour overlapping by at least an eighth of a tile; frames that are
// not shrunk, or tiles off, get none.
func TestScheduleTiles(t *testing.T) {
	s := NewSchedule(nopDetector{}, 640, 640)
	for _, c := range []struct{ w, h, n int }{{1920, 1080, 8}, {1280, 720, 6}, {3840, 2160, 28}, {640, 360, 0}, {600, 900, 2}} {
		tiles := s.Tiles(c.w, c.h)
		if len(tiles) != c.n || s.Period(c.w, c.h) != c.n {
			t.Errorf("%dx%d: %d tiles, want %d", c.w, c.h, len(tiles), c.n)
			continue
		}
		if c.n == 0 {
			continue
		}
		seen := make([]int, c.w*c.h)
		frame := image.Rect(0, 0, c.w, c.h)
		for _, r := range tiles {
			if !r.In(frame) || r.Dx() != min(640, c.w) || r.Dy() != min(640, c.h) {
				t.Errorf("%dx%d: tile %v is not a 640-px square inside the frame", c.w, c.h, r)
			}
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					seen[y*c.w+x]++
				}
			}
		}
		for i, n := range seen {
			if n == 0 {
				t.Fatalf("%dx%d: pixel (%d, %d) is in no tile", c.w, c.h, i%c.w, i/c.w)
			}
		}
		// A face up to 80 px lies whole in some tile wherever it is.
		for y := 0; y+80 <= c.h; y += 37 {
			for x := 0; x+80 <= c.w; x += 37 {
				face := image.Rect(x, y, x+80, y+80)
				if !inSome(face, tiles) {
					t.Fatalf("%dx%d: an 80-px face at %v is cut by every tile", c.w, c.h, face)
				}
			}
		}
	}
	if n := len(NewSchedule(nopDetector{}, 640, 0).Tiles(1920, 1080)); n != 0 {
		t.Errorf("tile_side 0: %d tiles", n)
	}
	if n := len(NewSchedule(nopDetector{}, 0, 640).Tiles(1920, 1080)); n != 0 {
		t.Errorf("detect_max_side 0 (full size): %d tiles", n)
	}
}

func inSome(r image.Rectangle, tiles []image.Rectangle) bool {
	for _, t := range tiles {
		if r.In(t) {
			return true
		}
	}
	return false
}

// centreDetector finds one 12-px face at the centre of whatever it is
// given, and one cut by the left edge; it records the sizes it was given.
type centreDetector struct {
	mu    sync.Mutex
	sizes []image.Point
}

func (d *centreDetector) Info() convert.ModelInfo { return convert.ModelInfo{Name: "centre"} }
func (d *centreDetector) Detect(img gocv.Mat) ([]convert.Detection, error) {
	dets, _, err := d.DetectInfo(img)
	return dets, err
}
func (d *centreDetector) DetectInfo(img gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	d.mu.Lock()
	d.sizes = append(d.sizes, image.Pt(img.Cols(), img.Rows()))
	d.mu.Unlock()
	cx, cy := float32(img.Cols())/2, float32(img.Rows())/2
	return []convert.Detection{
		{Box: convert.Box{X1: cx - 6, Y1: cy - 6, X2: cx + 6, Y2: cy + 6}, Score: 0.9, Label: "face"},
		{Box: convert.Box{X1: 0, Y1: cy - 6, X2: 12, Y2: cy + 6}, Score: 0.9, Label: "face"},
	}, d.Info(), nil
}

// TestScheduleRotation: each 1080p frame is detected whole at 640 px and
// in one full-size tile, the tiles in turn; a tile's faces come back in
// frame pixels marked to be kept until the tile's next visit, and those
// cut by an inner edge of the tile are left to the whole-frame pass.
func TestScheduleRotation(t *testing.T) {
	det := &centreDetector{}
	s := NewSchedule(det, 640, 640)
	frame := gocv.NewMatWithSize(1080, 1920, gocv.MatTypeCV8UC3)
	defer frame.Close()
	tiles := s.Tiles(1920, 1080)
	for i := range 2 * len(tiles) {
		dets, _, err := s.DetectInfo(frame)
		if err != nil {
			t.Fatal(err)
		}
		tile := tiles[i%len(tiles)]
		var fromTile []convert.Detection
		for _, d := range dets {
			if d.Revisit != 0 {
				fromTile = append(fromTile, d)
			}
		}
		wantN := 1
		if tile.Min.X == 0 {
			wantN = 2 // its left edge is the frame's: nothing is cut there
		}
		if len(fromTile) != wantN || fromTile[0].Revisit != len(tiles) {
			t.Fatalf("frame %d: tile %v gave %+v, want %d detections with Revisit %d", i, tile, fromTile, wantN, len(tiles))
		}
		c := image.Pt(tile.Min.X+tile.Dx()/2, tile.Min.Y+tile.Dy()/2)
		if b := fromTile[0].Box; b.X1 != float32(c.X-6) || b.Y1 != float32(c.Y-6) {
			t.Errorf("frame %d: tile face at %+v, want centred on %v in frame pixels", i, b, c)
		}
	}
	for i, sz := range det.sizes {
		want := image.Pt(640, 360)
		if i%2 == 1 {
			want = image.Pt(640, 640)
		}
		if sz != want {
			t.Fatalf("call %d was given %v, want %v (whole frame, then a tile, per frame)", i, sz, want)
		}
	}
}

// TestScheduleRealSmallFaces: on a 1080p frame made of a crowd photo, the
// tiles find most of the faces the whole frame shrunk to 640 px misses.
func TestScheduleRealSmallFaces(t *testing.T) {
	det := loadYunet(t, 0)
	img, err := imageio.Read(testenv.Shared(t, "data/faces/wider-dev/20--Family_Group/20_Family_Group_Family_Group_20_672.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	// The photo at its own size (faces of 15-40 px) on a black 1080p frame,
	// as a camera would see a crowd.
	frame := gocv.NewMatWithSize(1080, 1920, gocv.MatTypeCV8UC3)
	defer frame.Close()
	dst := frame.Region(image.Rect(0, 0, min(img.Cols(), 1920), min(img.Rows(), 1080)))
	src := img.Region(image.Rect(0, 0, dst.Cols(), dst.Rows()))
	src.CopyTo(&dst)
	dst.Close()
	src.Close()
	faces := labelled(t, "20--Family_Group/20_Family_Group_Family_Group_20_672.jpg")
	shrunk, _, err := Shrink(det, 640).DetectInfo(frame)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSchedule(det, 640, 640)
	var all []convert.Detection
	for range s.Period(1920, 1080) {
		dets, _, err := s.DetectInfo(frame)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, dets...)
	}
	a, b := found(faces, shrunk), found(faces, all)
	if b-a < (len(faces)-a)/2 {
		t.Errorf("of %d labelled faces, the frame shrunk to 640 px found %d; with one rotation of tiles %d: want at least half of the missed ones", len(faces), a, b)
	}
	t.Logf("of %d labelled faces: shrunk frame %d, with one rotation of tiles %d", len(faces), a, b)
}

// labelled reads the labelled face boxes of one wider-dev photo.
func labelled(t *testing.T, name string) []convert.Box {
	data, err := os.ReadFile(testenv.Shared(t, "data/faces/wider-dev_boxes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string][][4]float32
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	var out []convert.Box
	for _, b := range all[name] {
		out = append(out, convert.Box{X1: b[0], Y1: b[1], X2: b[2], Y2: b[3]})
	}
	if len(out) == 0 {
		t.Fatalf("no labels for %s", name)
	}
	return out
}

// found counts the faces some detection overlaps by IoU 0.3.
func found(faces []convert.Box, dets []convert.Detection) int {
	n := 0
	for _, f := range faces {
		for _, d := range dets {
			if convert.IoU(f, d.Box) > 0.3 {
				n++
				break
			}
		}
	}
	return n
}

// TestScheduleStripFrames: a face 60 px tall in a frame far wider than
// tall (a panorama strip, 4000x100) or far taller than wide is hidden
// within one rotation of the tiles. The whole frame shrunk to 640 px makes
// it under 10 px, so the tiles must give it, though the tiles, cut to the
// frame, are less than 640 px on one side.
func TestScheduleStripFrames(t *testing.T) {
	det := loadYunet(t, 0)
	const name = "4--Dancing/4_Dancing_Dancing_4_718.jpg"
	img, err := imageio.Read(testenv.Shared(t, "data/faces/wider-dev/"+name))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	f := labelled(t, name)[0]
	// The face with a margin, scaled so the face is 60 px tall.
	mw, mh := (f.X2-f.X1)*0.4, (f.Y2-f.Y1)*0.25
	crop := image.Rect(int(f.X1-mw), int(f.Y1-mh), int(f.X2+mw), int(f.Y2+mh)).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	k := 60 / (f.Y2 - f.Y1)
	cw, ch := int(float32(crop.Dx())*k), int(float32(crop.Dy())*k)
	region := img.Region(crop)
	patch := gocv.NewMat()
	gocv.Resize(region, &patch, image.Pt(cw, ch), 0, 0, gocv.InterpolationArea)
	region.Close()
	defer patch.Close()
	for _, sz := range []image.Point{{4000, 100}, {100, 4000}, {1920, 1080}} {
		frame := gocv.NewMatWithSize(sz.Y, sz.X, gocv.MatTypeCV8UC3)
		at := image.Pt((sz.X-cw)*3/7, (sz.Y-ch)*3/7)
		dst := frame.Region(image.Rectangle{Min: at, Max: at.Add(image.Pt(cw, ch))})
		patch.CopyTo(&dst)
		dst.Close()
		face := convert.Box{X1: float32(at.X) + (f.X1-float32(crop.Min.X))*k, Y1: float32(at.Y) + (f.Y1-float32(crop.Min.Y))*k}
		face.X2, face.Y2 = face.X1+(f.X2-f.X1)*k, face.Y1+60
		s := NewSchedule(det, 640, 640)
		var all []convert.Detection
		for range max(1, s.Period(sz.X, sz.Y)) {
			dets, _, err := s.DetectInfo(frame)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, dets...)
		}
		frame.Close()
		if found([]convert.Box{face}, all) != 1 {
			t.Errorf("%dx%d frame: the 60-px face at %+v was not found in one rotation of %d tiles (got %+v)", sz.X, sz.Y, face, s.Period(sz.X, sz.Y), all)
		}
	}
}

// scaleRecorder is a ScaledDetector that records the scales it is told.
type scaleRecorder struct {
	nopDetector
	mu     sync.Mutex
	scales []float32
}

func (d *scaleRecorder) DetectScaled(img gocv.Mat, scale float32) ([]convert.Detection, convert.ModelInfo, error) {
	d.mu.Lock()
	d.scales = append(d.scales, scale)
	d.mu.Unlock()
	return nil, convert.ModelInfo{}, nil
}

// TestScheduleTellsScale: size-aware thresholds are judged at source
// heights, so the detector is told the shrunk 1080p frame is 3x smaller
// than the source and a tile is at full size; a frame not shrunk is at 1.
func TestScheduleTellsScale(t *testing.T) {
	det := &scaleRecorder{}
	s := NewSchedule(det, 640, 640)
	for _, sz := range []image.Point{{1920, 1080}, {640, 360}} {
		frame := gocv.NewMatWithSize(sz.Y, sz.X, gocv.MatTypeCV8UC3)
		if _, _, err := s.DetectInfo(frame); err != nil {
			t.Fatal(err)
		}
		frame.Close()
	}
	if want := []float32{3, 1, 1}; !slices.Equal(det.scales, want) {
		t.Errorf("scales %v, want %v (shrunk 1080p frame, its tile, an unshrunk frame)", det.scales, want)
	}
}
