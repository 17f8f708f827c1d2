package mock

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
)

var (
	mockInputs  = []string{"image"}
	mockOutputs = []string{"detection_boxes", "detection_scores", "detection_classes", "num_detections"}
)

type rgb [3]uint8

var (
	red     = rgb{255, 0, 0}
	nearRed = rgb{254, 0, 0}
	black   = rgb{0, 0, 0}
	green   = rgb{0, 255, 0}
)

// frac is n/d as float32, the division the model does.
func frac(n, d int) float32 { return float32(n) / float32(d) }

// mockResult is what one run of the mock returns.
type mockResult struct {
	boxes, scores, classes, num []float32
	shapes                      [4]ort.Shape
}

// mockSession is an ONNX Runtime session on model, destroyed when the test
// ends.
func mockSession(t *testing.T, model []byte) *ort.DynamicAdvancedSession {
	t.Helper()
	testenv.InitORT(t)
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, mockInputs, mockOutputs, nil)
	if err != nil {
		t.Fatalf("create session on the mock model: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Destroy(); err != nil {
			t.Errorf("destroy session: %v", err)
		}
	})
	return s
}

// runMock runs s on an h x w image whose pixel (y, x) is pixel(y, x).
func runMock(t *testing.T, s *ort.DynamicAdvancedSession, h, w int, pixel func(y, x int) rgb) mockResult {
	t.Helper()
	data := make([]uint8, 0, h*w*3)
	for y := range h {
		for x := range w {
			p := pixel(y, x)
			data = append(data, p[:]...)
		}
	}
	input, err := ort.NewTensor(ort.NewShape(1, int64(h), int64(w), 3), data)
	if err != nil {
		t.Fatalf("create %dx%d input tensor: %v", w, h, err)
	}
	defer input.Destroy()
	outputs := make([]ort.Value, len(mockOutputs))
	defer func() {
		for _, v := range outputs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err := s.Run([]ort.Value{input}, outputs); err != nil {
		t.Fatalf("run the mock on a %dx%d image: %v", w, h, err)
	}
	var r mockResult
	dst := []*[]float32{&r.boxes, &r.scores, &r.classes, &r.num}
	for i, v := range outputs {
		f, ok := v.(*ort.Tensor[float32])
		if !ok {
			t.Fatalf("output %s is %T, want *ort.Tensor[float32]", mockOutputs[i], v)
		}
		*dst[i] = slices.Clone(f.GetData())
		r.shapes[i] = f.GetShape().Clone()
	}
	return r
}

// checkFixedOutputs checks the outputs that do not depend on the image.
func checkFixedOutputs(t *testing.T, r mockResult) {
	t.Helper()
	wantShapes := [4]ort.Shape{{1, 2, 4}, {1, 2}, {1, 2}, {1}}
	for i, want := range wantShapes {
		if !r.shapes[i].Equals(want) {
			t.Errorf("%s shape %v, want %v", mockOutputs[i], r.shapes[i], want)
		}
	}
	if want := []float32{0, 0, 1, 1, 0, 0, 0.5, 0.5}; !slices.Equal(r.boxes, want) {
		t.Errorf("detection_boxes %v, want %v", r.boxes, want)
	}
	if want := []float32{1, 1}; !slices.Equal(r.classes, want) {
		t.Errorf("detection_classes %v, want %v", r.classes, want)
	}
	if want := []float32{2}; !slices.Equal(r.num, want) {
		t.Errorf("num_detections %v, want %v", r.num, want)
	}
}

func fill(c rgb) func(y, x int) rgb { return func(int, int) rgb { return c } }

func TestMockScores(t *testing.T) {
	s := mockSession(t, ONNX())
	tests := []struct {
		name  string
		h, w  int
		pixel func(y, x int) rgb
		// whole and quadrant are the expected detection_scores.
		whole, quadrant float32
	}{
		{"all red", 4, 6, fill(red), 1, 1},
		{"no red", 4, 6, fill(black), 0, 0},
		{"all green", 4, 6, fill(green), 0, 0},
		{"near red 254,0,0", 4, 6, fill(nearRed), 0, 0},
		{"near red 255,1,0", 4, 6, fill(rgb{255, 1, 0}), 0, 0},
		{"near red 255,0,1", 4, 6, fill(rgb{255, 0, 1}), 0, 0},
		{"top-left quadrant red", 4, 6, func(y, x int) rgb {
			if y < 2 && x < 3 {
				return red
			}
			return black
		}, 0.25, 1},
		{"bottom-right quadrant red", 4, 6, func(y, x int) rgb {
			if y >= 2 && x >= 3 {
				return red
			}
			return black
		}, 0.25, 0},
		{"one red pixel at the top left", 2, 2, func(y, x int) rgb {
			if y == 0 && x == 0 {
				return red
			}
			return black
		}, 0.25, 1},
		// 5x7: the quadrant is rows 0..1, columns 0..2 (6 pixels); the
		// middle row 2 and middle column 3 are outside it. Rounding up would
		// take in 3 of the 4 red pixels of row 2 and 2 of column 3.
		{"odd 5x7, middle row and column red", 5, 7, func(y, x int) rgb {
			if y == 2 || x == 3 {
				return red
			}
			return black
		}, frac(7+5-1, 35), 0},
		{"odd 5x7, quadrant and middle lines red", 5, 7, func(y, x int) rgb {
			if y <= 2 && x <= 3 {
				return red
			}
			return black
		}, frac(3*4, 35), 1},
		{"odd 5x7 checkerboard", 5, 7, func(y, x int) rgb {
			if (y+x)%2 == 0 {
				return red
			}
			return nearRed
		}, frac(18, 35), frac(3, 6)},
		{"odd 3x3, centre red", 3, 3, func(y, x int) rgb {
			if y == 1 && x == 1 {
				return red
			}
			return black
		}, frac(1, 9), 0},
		{"odd 3x3, top-left pixel red", 3, 3, func(y, x int) rgb {
			if y == 0 && x == 0 {
				return red
			}
			return black
		}, frac(1, 9), 1},
		// One pixel high or wide: the quadrant is empty and scores 0.
		{"1x1 red", 1, 1, fill(red), 1, 0},
		{"1 high, red", 1, 5, fill(red), 1, 0},
		{"1 wide, red", 5, 1, fill(red), 1, 0},
		{"1 wide, half red", 4, 1, func(y, x int) rgb {
			if y < 2 {
				return red
			}
			return black
		}, 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runMock(t, s, tt.h, tt.w, tt.pixel)
			checkFixedOutputs(t, r)
			if want := []float32{tt.whole, tt.quadrant}; !slices.Equal(r.scores, want) {
				t.Errorf("%dx%d: detection_scores %v, want %v", tt.w, tt.h, r.scores, want)
			}
		})
	}
}

// TestMockMatchesReference checks larger random images against a direct
// count of the red pixels.
func TestMockMatchesReference(t *testing.T) {
	s := mockSession(t, ONNX())
	rng := rand.New(rand.NewPCG(1, 2))
	palette := []rgb{red, red, nearRed, black, green, {255, 0, 255}}
	for _, size := range [][2]int{{480, 640}, {101, 67}, {2, 1000}} {
		h, w := size[0], size[1]
		img := make([][]rgb, h)
		for y := range img {
			img[y] = make([]rgb, w)
			for x := range img[y] {
				img[y][x] = palette[rng.IntN(len(palette))]
			}
		}
		var whole, quad int
		for y := range h {
			for x := range w {
				if img[y][x] == red {
					whole++
					if y < h/2 && x < w/2 {
						quad++
					}
				}
			}
		}
		r := runMock(t, s, h, w, func(y, x int) rgb { return img[y][x] })
		checkFixedOutputs(t, r)
		want := []float32{frac(whole, h*w), frac(quad, (h/2)*(w/2))}
		if !slices.Equal(r.scores, want) {
			t.Errorf("random %dx%d: detection_scores %v, want %v (%d and %d red pixels)", w, h, r.scores, want, whole, quad)
		}
	}
}

func TestMockONNXColour(t *testing.T) {
	s := mockSession(t, ONNXColour(0, 255, 0))
	tests := []struct {
		name            string
		colour          rgb
		whole, quadrant float32
	}{
		{"green", green, 1, 1},
		{"red", red, 0, 0},
		{"near green", rgb{0, 255, 1}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runMock(t, s, 3, 4, fill(tt.colour))
			checkFixedOutputs(t, r)
			if want := []float32{tt.whole, tt.quadrant}; !slices.Equal(r.scores, want) {
				t.Errorf("detection_scores %v, want %v", r.scores, want)
			}
		})
	}
	if bytes.Equal(ONNX(), ONNXColour(0, 255, 0)) {
		t.Error("ONNX and ONNXColour(0, 255, 0) are the same model")
	}
}

// TestMockONNXBlind: the blind mock scores 0 where the mock scores 1, with
// the mock's fixed outputs, and is another model.
func TestMockONNXBlind(t *testing.T) {
	r := runMock(t, mockSession(t, ONNXBlind()), 3, 4, fill(red))
	checkFixedOutputs(t, r)
	if want := []float32{0, 0}; !slices.Equal(r.scores, want) {
		t.Errorf("detection_scores on an all-red image %v, want %v", r.scores, want)
	}
	if bytes.Equal(ONNX(), ONNXBlind()) {
		t.Error("ONNX and ONNXBlind are the same model")
	}
}

// TestMockSignature checks the inputs and outputs ONNX Runtime reads from
// the model.
func TestMockSignature(t *testing.T) {
	testenv.InitORT(t)
	inputs, outputs, err := ort.GetInputOutputInfoWithONNXData(ONNX())
	if err != nil {
		t.Fatalf("read the mock model's inputs and outputs: %v", err)
	}
	if len(inputs) != 1 {
		t.Fatalf("%d inputs, want 1: %v", len(inputs), inputs)
	}
	in := inputs[0]
	if in.Name != "image" || in.DataType != ort.TensorElementDataTypeUint8 || !in.Dimensions.Equals(ort.Shape{1, -1, -1, 3}) {
		t.Errorf("input %v, want image uint8 [1 -1 -1 3]", &in)
	}
	wantShapes := []ort.Shape{{1, 2, 4}, {1, 2}, {1, 2}, {1}}
	if len(outputs) != len(mockOutputs) {
		t.Fatalf("%d outputs, want %d: %v", len(outputs), len(mockOutputs), outputs)
	}
	for i, o := range outputs {
		if o.Name != mockOutputs[i] || o.DataType != ort.TensorElementDataTypeFloat || !o.Dimensions.Equals(wantShapes[i]) {
			t.Errorf("output %d is %v, want %s float %v", i, &o, mockOutputs[i], wantShapes[i])
		}
	}
}

func TestMockONNXSmallAndDeterministic(t *testing.T) {
	m := ONNX()
	if len(m) == 0 || len(m) >= 8<<10 {
		t.Errorf("mock model is %d bytes, want 1 to 8191", len(m))
	}
	if !bytes.Equal(m, ONNX()) {
		t.Error("ONNX returned different bytes on a second call")
	}
}

func TestWriteMock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "mock") // parents are created
	for range 2 {                                  // the second write replaces the first
		if err := Write(dir); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	want := map[string][]byte{models.ModelFile: ONNX(), models.ManifestFile: []byte(Manifest)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{models.ModelFile, models.ManifestFile}) {
		t.Errorf("files in %s: %v, want only %s and %s", dir, names, models.ModelFile, models.ManifestFile)
	}
	for name, data := range want {
		p := filepath.Join(dir, name)
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			continue
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s holds %d bytes that differ from the %d expected", p, len(got), len(data))
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v, want 0644", p, fi.Mode().Perm())
		}
	}
}

func TestWriteMockError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(filepath.Join(file, "mock"))
	if err == nil || !strings.HasPrefix(err.Error(), "write mock model: ") {
		t.Errorf("Write under a regular file: error %v, want one starting \"write mock model: \"", err)
	}
}

// TestMockONNXChecker runs the ONNX project's own checker, with full shape
// inference, on the written model.
func TestMockONNXChecker(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s not installed (Debian package python3): %v", python, err)
	}
	if out, err := exec.Command(python, "-c", "import onnx").CombinedOutput(); err != nil {
		t.Skipf("python module onnx missing for %s (Debian package python3-onnx): %v: %s", python, err, out)
	}
	dir := t.TempDir()
	if err := Write(dir); err != nil {
		t.Fatalf("Write: %v", err)
	}
	const script = "import sys, onnx; onnx.checker.check_model(sys.argv[1], full_check=True)"
	path := filepath.Join(dir, models.ModelFile)
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("onnx.checker.check_model(%s, full_check=True) failed: %v\n%s", path, err, out)
	}
	if err != nil {
		t.Fatalf("run %s: %v", python, err)
	}
}
