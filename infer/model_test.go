package infer_test

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/models/mock"
)

// Helpers shared by the tests and benchmarks of this package.

// newRuntime returns a CPU runtime on the ONNX Runtime library that
// scripts/setup.sh installs. Init is process-wide and may be called again.
func newRuntime(t testing.TB) *infer.Runtime {
	t.Helper()
	rt, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("init onnx runtime: %v", err)
	}
	return rt
}

// load loads the model folder dir; the model is closed when the test ends.
func load(t testing.TB, rt *infer.Runtime, dir string, o infer.LoadOptions) *infer.Model {
	t.Helper()
	m, err := rt.Load(dir, o)
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close %s: %v", dir, err)
		}
	})
	return m
}

// installed are the models scripts/setup.sh puts under models/.
var installed = map[string]bool{"yunet-n-dynamic": true, "blazeface-front-128": true, "blazeface-back-256": true}

// modelDir returns the folder of the catalogue model name: the one
// scripts/setup.sh installed under models/, or else a folder made in a
// temporary directory by models.Install from ../shared/models/NAME/model.onnx
// and the builtin catalogue entry.
func modelDir(t testing.TB, name string) string {
	t.Helper()
	if installed[name] {
		return testenv.Model(t, name)
	}
	cat, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatalf("builtin catalogue: %v", err)
	}
	e, ok := cat.Find(name)
	if !ok {
		t.Fatalf("model %s is not in the builtin catalogue", name)
	}
	dir, err := models.Install(e, testenv.Shared(t, filepath.Join("models", name, models.ModelFile)), t.TempDir())
	if err != nil {
		t.Fatalf("install %s: %v", name, err)
	}
	return dir
}

// readPhoto reads a photo under ../shared/data as 8-bit BGR; the Mat is
// closed when the test ends.
func readPhoto(t testing.TB, rel string) gocv.Mat {
	t.Helper()
	path := testenv.Shared(t, filepath.Join("data", rel))
	img := gocv.IMRead(path, gocv.IMReadColor)
	if img.Empty() {
		img.Close()
		t.Fatalf("read %s: not an image", path)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

// solid is a w x h 8-bit image of one BGR colour, closed when the test ends.
func solid(t testing.TB, w, h int, b, g, r float64) gocv.Mat {
	t.Helper()
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(b, g, r, 0), h, w, gocv.MatTypeCV8UC3)
	t.Cleanup(func() { img.Close() })
	return img
}

// paint fills rect of img with one BGR colour.
func paint(img gocv.Mat, rect image.Rectangle, b, g, r float64) {
	roi := img.Region(rect)
	defer roi.Close()
	roi.SetTo(gocv.NewScalar(b, g, r, 0))
}

// Pure red in the BGR order of gocv frames.
const redB, redG, redR = 0, 0, 255

// mockDir writes the mock model (mock.Write) into a temporary folder.
func mockDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mock")
	if err := mock.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// makeModelDir makes a temporary model folder holding onnx as model.onnx
// and manifest as model.toml (none when manifest is empty).
func makeModelDir(t testing.TB, onnx []byte, manifest string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, models.ModelFile), onnx, 0o644); err != nil {
		t.Fatal(err)
	}
	if manifest != "" {
		if err := os.WriteFile(filepath.Join(dir, models.ManifestFile), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// onnxOf reads the model.onnx of a catalogue model.
func onnxOf(t testing.TB, name string) []byte {
	t.Helper()
	var path string
	if installed[name] {
		path = filepath.Join(testenv.Model(t, name), models.ModelFile)
	} else {
		path = testenv.Shared(t, filepath.Join("models", name, models.ModelFile))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// manifest is a minimal model.toml; extra is appended to its [input] table
// (and may open further tables).
func manifest(adapter, input, extra string) string {
	return fmt.Sprintf("name = \"test\"\nversion = \"1\"\nadapter = %q\n\n[input]\nname = %q\n%s\n", adapter, input, extra)
}

func fmtDets(dets []convert.Detection) string {
	var b strings.Builder
	for _, d := range dets {
		fmt.Fprintf(&b, "\n  %s %.3f (%.1f, %.1f, %.1f, %.1f)", d.Label, d.Score, d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2)
	}
	return b.String()
}

// TestMockThroughLoad runs the mock TF OD API model through Load and
// DetectAll on synthetic frames: detection 0 is the whole image, detection 1
// the top-left quadrant, each scored by its fraction of pure-red pixels.
func TestMockThroughLoad(t *testing.T) {
	const w, h = 64, 48
	m := load(t, newRuntime(t), mockDir(t), infer.LoadOptions{})
	whole := convert.Box{X1: 0, Y1: 0, X2: w, Y2: h}
	quad := convert.Box{X1: 0, Y1: 0, X2: w / 2, Y2: h / 2}
	red := func(b convert.Box, score float32) convert.Detection {
		return convert.Detection{Box: b, Score: score, Class: 0, Label: "red"}
	}
	tests := []struct {
		name      string
		img       func() gocv.Mat
		threshold float32
		all       []convert.Detection // DetectAll at threshold, in NMS (score) order
		detect    []convert.Detection // Detect at the manifest's threshold 0.5
	}{
		{
			// IoU(whole, quadrant) = 0.25 <= nms_iou 0.4: NMS keeps both;
			// equal scores keep the model's order.
			name:      "all red",
			img:       func() gocv.Mat { return solid(t, w, h, redB, redG, redR) },
			threshold: 0,
			all:       []convert.Detection{red(whole, 1), red(quad, 1)},
			detect:    []convert.Detection{red(whole, 1), red(quad, 1)},
		},
		{
			name: "only the quadrant red",
			img: func() gocv.Mat {
				img := solid(t, w, h, 0, 0, 0)
				paint(img, image.Rect(0, 0, w/2, h/2), redB, redG, redR)
				return img
			},
			threshold: 0,
			all:       []convert.Detection{red(quad, 1), red(whole, 0.25)},
			detect:    []convert.Detection{red(quad, 1)},
		},
		{
			// Pure blue: red in RGB order only if the adapter fails to swap
			// the BGR frame into the RGB the manifest asks for.
			name:      "pure blue",
			img:       func() gocv.Mat { return solid(t, w, h, 255, 0, 0) },
			threshold: 0.01,
		},
		{
			name:      "black",
			img:       func() gocv.Mat { return solid(t, w, h, 0, 0, 0) },
			threshold: 0.01,
		},
		{
			name:      "almost red (R=254)",
			img:       func() gocv.Mat { return solid(t, w, h, 0, 0, 254) },
			threshold: 0.01,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.img()
			all, err := m.DetectAll(img, tc.threshold)
			if err != nil {
				t.Fatalf("DetectAll: %v", err)
			}
			if len(all) != len(tc.all) || (len(all) > 0 && !reflect.DeepEqual(all, tc.all)) {
				t.Errorf("DetectAll(threshold %g):%s\nwant:%s", tc.threshold, fmtDets(all), fmtDets(tc.all))
			}
			got, err := m.Detect(img)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if len(got) != len(tc.detect) || (len(got) > 0 && !reflect.DeepEqual(got, tc.detect)) {
				t.Errorf("Detect (threshold %g):%s\nwant:%s", m.Info().Threshold, fmtDets(got), fmtDets(tc.detect))
			}
		})
	}
}

func TestMockInfo(t *testing.T) {
	dir := mockDir(t)
	m := load(t, newRuntime(t), dir, infer.LoadOptions{})
	got := m.Info()
	want := infer.Info{Name: "mock", Version: "1", Adapter: "tfod", License: "unknown", Provider: "cpu", Threshold: 0.5, Hide: []string{"red"}, Dir: dir}
	if len(got.SHA256) != 64 {
		t.Errorf("Info().SHA256 = %q, want 64 hex digits", got.SHA256)
	}
	got.SHA256 = ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Info() = %+v, want %+v", got, want)
	}
}

// TestThresholdOption: LoadOptions.Threshold replaces the manifest's 0.5.
func TestThresholdOption(t *testing.T) {
	const w, h = 64, 48
	rt := newRuntime(t)
	dir := mockDir(t)
	img := solid(t, w, h, 0, 0, 0)
	paint(img, image.Rect(0, 0, w/2, h/2), redB, redG, redR) // scores: quadrant 1, whole 0.25
	for _, tc := range []struct {
		opt, want float32
		faces     int
	}{
		{opt: 0, want: 0.5, faces: 1},
		{opt: 0.2, want: 0.2, faces: 2},
		{opt: 0.25, want: 0.25, faces: 2}, // threshold is inclusive
		{opt: 1, want: 1, faces: 1},
	} {
		t.Run(fmt.Sprint(tc.opt), func(t *testing.T) {
			m := load(t, rt, dir, infer.LoadOptions{Threshold: tc.opt})
			if got := m.Info().Threshold; got != tc.want {
				t.Errorf("Info().Threshold = %g, want %g", got, tc.want)
			}
			dets, err := m.Detect(img)
			if err != nil {
				t.Fatal(err)
			}
			if len(dets) != tc.faces {
				t.Errorf("Detect found %d, want %d:%s", len(dets), tc.faces, fmtDets(dets))
			}
		})
	}
	for _, bad := range []float32{-0.1, 1.5} {
		_, err := rt.Load(dir, infer.LoadOptions{Threshold: bad})
		if err == nil || !strings.Contains(err.Error(), "threshold") {
			t.Errorf("Load with threshold %g: error %v, want one about the threshold", bad, err)
		}
	}
}

// TestHideFilter: Detect returns only the labels the manifest hides;
// DetectAll returns every label. The mock's class id 1 is "red" here
// (label_base 0, labels background, red).
func TestHideFilter(t *testing.T) {
	rt := newRuntime(t)
	img := solid(t, 32, 32, redB, redG, redR)
	for _, tc := range []struct {
		hide   string
		detect int
	}{{`["red"]`, 2}, {`["background"]`, 0}, {`["background", "red"]`, 2}} {
		t.Run(tc.hide, func(t *testing.T) {
			man := "labels = [\"background\", \"red\"]\nlabel_base = 0\nhide = " + tc.hide + "\n" +
				manifest("tfod", "image", "dtype = \"uint8\"\nlayout = \"nhwc\"\ncolour = \"rgb\"")
			m := load(t, rt, makeModelDir(t, mock.ONNX(), man), infer.LoadOptions{})
			all, err := m.DetectAll(img, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 2 || all[0].Label != "red" || all[0].Class != 1 || all[1].Label != "red" {
				t.Errorf("DetectAll:%s\nwant two \"red\" detections of class 1", fmtDets(all))
			}
			got, err := m.Detect(img)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.detect {
				t.Errorf("Detect with hide = %s:%s\nwant %d detections", tc.hide, fmtDets(got), tc.detect)
			}
		})
	}
}

// TestContractErrors: Load compares the model's real inputs and outputs with
// the manifest and adapter, and its error names what differs.
func TestContractErrors(t *testing.T) {
	rt := newRuntime(t)
	yunetN := onnxOf(t, "yunet-n-dynamic")
	yunetS := onnxOf(t, "yunet-s-640-opencvzoo-2023mar")
	front := onnxOf(t, "blazeface-front-128")
	corrupt := make([]byte, 4096)
	rand.NewChaCha8([32]byte{1}).Read(corrupt) // fixed seed
	tests := []struct {
		name     string
		onnx     []byte
		manifest string
		want     []string // each must appear in the error
		is       error
	}{
		{
			name:     "wrong input name",
			onnx:     yunetN,
			manifest: manifest("yunet", "data", "multiple = 32"),
			want:     []string{`input "data"`, "not found", `["input"]`},
		},
		{
			name:     "yunet manifest on a blazeface model",
			onnx:     front,
			manifest: manifest("yunet", "input:0", "layout = \"nhwc\"\nwidth = 128\nheight = 128"),
			want:     []string{`output "cls_8": not found`, `output "kps_32": not found`, `"Identity:0"`},
		},
		{
			name:     "dynamic manifest on a fixed 640 model",
			onnx:     yunetS,
			manifest: manifest("yunet", "input", "multiple = 32"),
			want:     []string{`input "input"`, "expected float32 [1 3 ? ?]", "found float32 [1 3 640 640]"},
		},
		{
			name:     "fixed 320 manifest on a fixed 640 model",
			onnx:     yunetS,
			manifest: manifest("yunet", "input", "width = 320\nheight = 320"),
			want:     []string{`input "input"`, "expected float32 [1 3 320 320]", "found float32 [1 3 640 640]"},
		},
		{
			name:     "float32 manifest on the uint8 mock",
			onnx:     mock.ONNX(),
			manifest: manifest("tfod", "image", "layout = \"nhwc\"\ncolour = \"rgb\""),
			want:     []string{`input "image"`, "expected float32", "found uint8"},
		},
		{
			name:     "nchw manifest on the nhwc mock",
			onnx:     mock.ONNX(),
			manifest: manifest("tfod", "image", "dtype = \"uint8\"\nlayout = \"nchw\""),
			want:     []string{`input "image"`, "expected uint8 [1 3 ? ?]", "found uint8 [1 -1 -1 3]"},
		},
		{
			name:     "corrupt model.onnx",
			onnx:     corrupt,
			manifest: manifest("yunet", "input", "multiple = 32"),
			want:     []string{"read inputs and outputs"},
		},
		{
			name:     "empty model.onnx",
			onnx:     nil,
			manifest: manifest("yunet", "input", "multiple = 32"),
			want:     []string{"read inputs and outputs"},
		},
		{
			name: "no model.toml",
			onnx: yunetN,
			want: []string{models.ManifestFile},
			is:   models.ErrNoManifest,
		},
		{
			name:     "unknown key",
			onnx:     yunetN,
			manifest: manifest("yunet", "input", "multiple = 32\nmultple = 16"),
			want:     []string{"unknown key", "input.multple", models.ManifestFile},
		},
		{
			name:     "unknown adapter",
			onnx:     yunetN,
			manifest: manifest("no-such-adapter", "input", ""),
			want:     []string{"adapter", `"no-such-adapter"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeModelDir(t, tc.onnx, tc.manifest)
			m, err := rt.Load(dir, infer.LoadOptions{})
			if err == nil {
				m.Close()
				t.Fatalf("Load succeeded, want an error naming %q", tc.want)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the folder %s", err, dir)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %q", err, tc.is)
			}
		})
	}
}

// TestFixedManifestOnDynamicModel: a model with dynamic height and width can
// be fed at a fixed size, so this is no contract error.
func TestFixedManifestOnDynamicModel(t *testing.T) {
	// Top-level keys go before the [input] table that manifest opens.
	dir := makeModelDir(t, onnxOf(t, "yunet-n-dynamic"), "threshold = 0.3\n"+manifest("yunet", "input", "width = 640\nheight = 640"))
	m := load(t, newRuntime(t), dir, infer.LoadOptions{})
	if got := m.Preprocess().Width; got != 640 {
		t.Fatalf("Preprocess().Width = %d, want 640", got)
	}
	dets, err := m.Detect(readPhoto(t, "faces/astronaut.png"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 || convert.IoU(dets[0].Box, astronautFace) < 0.5 {
		t.Errorf("found%s\nwant one face near %v", fmtDets(dets), astronautFace)
	}
}

func TestCloseAndErrClosed(t *testing.T) {
	m, err := newRuntime(t).Load(mockDir(t), infer.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := solid(t, 32, 32, redB, redG, redR)
	if dets, err := m.Detect(img); err != nil || len(dets) != 2 {
		t.Fatalf("Detect before Close: %d detections, %v; want 2, nil", len(dets), err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.Detect(img); !errors.Is(err, infer.ErrClosed) {
		t.Errorf("Detect after Close: %v, want ErrClosed", err)
	}
	if _, err := m.DetectAll(img, 0); !errors.Is(err, infer.ErrClosed) {
		t.Errorf("DetectAll after Close: %v, want ErrClosed", err)
	}
	var nilModel *infer.Model
	if err := nilModel.Close(); err != nil {
		t.Errorf("Close on a nil *Model: %v", err)
	}
}

func TestDetectBadImage(t *testing.T) {
	m := load(t, newRuntime(t), mockDir(t), infer.LoadOptions{})
	empty := gocv.NewMat()
	defer empty.Close()
	gray := gocv.NewMatWithSize(16, 16, gocv.MatTypeCV8UC1)
	defer gray.Close()
	for name, img := range map[string]gocv.Mat{"empty": empty, "one channel": gray} {
		if dets, err := m.Detect(img); err == nil {
			t.Errorf("Detect on an %s image: %d detections and no error", name, len(dets))
		}
	}
}

// TestConcurrentDetect: four goroutines sharing one Model get the results a
// sequential run gets. The goroutines alternate two photos, so a call that
// saw another call's tensors would show.
func TestConcurrentDetect(t *testing.T) {
	m := load(t, newRuntime(t), modelDir(t, "yunet-n-dynamic"), infer.LoadOptions{})
	photos := []gocv.Mat{readPhoto(t, "faces/group_uf2.jpg"), readPhoto(t, "faces/astronaut.png")}
	want := make([][]convert.Detection, len(photos))
	for i, img := range photos {
		dets, err := m.Detect(img)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = dets
	}
	if len(want[0]) != 4 || len(want[1]) != 1 {
		t.Fatalf("sequential run found %d and %d faces, want 4 and 1", len(want[0]), len(want[1]))
	}
	const workers, rounds = 4, 3
	errs := make(chan error, workers*rounds)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for r := range rounds {
				i := (g + r) % len(photos)
				dets, err := m.Detect(photos[i])
				if err != nil {
					errs <- fmt.Errorf("goroutine %d, round %d: %w", g, r, err)
					continue
				}
				if !reflect.DeepEqual(dets, want[i]) {
					errs <- fmt.Errorf("goroutine %d, round %d, photo %d:%s\nsequential:%s", g, r, i, fmtDets(dets), fmtDets(want[i]))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestNaNModelFailsLoad: a model whose scores are all NaN is a detector
// failure through ONNX Runtime, not "nothing found" (issue #11 item 3):
// the warm-up inference of Load already reports it, so it never runs.
func TestNaNModelFailsLoad(t *testing.T) {
	rt := newRuntime(t)
	m, err := rt.Load(makeModelDir(t, mock.ONNXNaN(), mock.Manifest), infer.LoadOptions{})
	if err == nil {
		m.Close()
	}
	if !errors.Is(err, convert.ErrInvalidOutput) {
		t.Fatalf("Load of the NaN model: error %v, want ErrInvalidOutput", err)
	}
}
