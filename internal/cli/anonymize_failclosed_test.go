package cli

import (
	"encoding/binary"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/anonymize/anonymize/models"
)

// ---- known answers with the mock model -----------------------------------------

// TestMockModelKnownAnswer writes the mock model with `models mock` and runs
// it end to end. The mock scores the share of pure red pixels in the whole
// image (detection 0) and in its top-left quadrant (detection 1), threshold
// 0.5, so what must be hidden is known exactly.
func TestMockModelKnownAnswer(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	mock := filepath.Join(root, "mock")
	code, stdout, stderr := runCLI(t, "models", "mock", "--out", mock)
	if code != exitOK || !strings.Contains(stdout, mock) {
		t.Fatalf("models mock: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	red := color.NRGBA{255, 0, 0, 255}
	// Never pure red, never black.
	other := func(x, y int) color.NRGBA { return color.NRGBA{uint8(x), uint8(y), 128, 255} }

	t.Run("all red", func(t *testing.T) {
		in, out, audit := filepath.Join(root, "red.png"), filepath.Join(root, "out-red"), filepath.Join(root, "red.json")
		writePNG(t, in, 40, 30, func(x, y int) color.NRGBA { return red })
		code, _, stderr := runCLI(t, "--config", cfg, "--model", mock, "--style", "solid", "--shape", "box", "--format", "png", "--out", out, "--audit", audit, in)
		if code != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr)
		}
		p := decode(t, filepath.Join(out, "red.png"))
		if p.w != 40 || p.h != 30 {
			t.Fatalf("output is %dx%d, want 40x30", p.w, p.h)
		}
		for i := 0; i < len(p.bgr); i += 3 {
			if px := [3]byte(p.bgr[i : i+3]); px != black {
				t.Fatalf("pixel (%d, %d) is %v, want the whole image black", i/3%p.w, i/3/p.w, px)
			}
		}
		im := readAudit(t, audit).image(t, in)
		if !strings.HasPrefix(im.Model, "mock@") || len(im.Detections) == 0 {
			t.Fatalf("audit: %+v, want detections by the mock", im)
		}
		whole := im.Detections[0]
		if whole.Box == nil || *whole.Box != (struct{ X1, Y1, X2, Y2 float64 }{0, 0, 40, 30}) || whole.Score == nil || *whole.Score != 1 || whole.Label != "red" {
			t.Errorf("detection 0: %+v, want the whole image, score 1, label red", whole)
		}
	})

	t.Run("red quadrant", func(t *testing.T) {
		const w, h = 200, 160
		in, out, audit := filepath.Join(root, "quadrant.png"), filepath.Join(root, "out-quadrant"), filepath.Join(root, "quadrant.json")
		writePNG(t, in, w, h, func(x, y int) color.NRGBA {
			if x < w/2 && y < h/2 {
				return red
			}
			return other(x, y)
		})
		code, _, stderr := runCLI(t, "--config", cfg, "--model", mock, "--style", "solid", "--shape", "box", "--mask-scale", "1.3", "--format", "png", "--out", out, "--audit", audit, in)
		if code != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr)
		}
		im := readAudit(t, audit).image(t, in)
		if len(im.Detections) != 1 || im.Detections[0].Score == nil || *im.Detections[0].Score != 1 {
			t.Fatalf("detections %+v, want only the quadrant at score 1 (the whole image scores 0.25)", im.Detections)
		}
		// The quadrant [0, 100) x [0, 80) grown by 1.3 about its centre
		// (50, 40) is [-15, 115) x [-12, 92), clipped to the image.
		const x1, y1 = 115, 92
		src, p := decode(t, in), decode(t, filepath.Join(out, "quadrant.png"))
		bad := 0
		for y := range h {
			for x := range w {
				want := src.at(x, y)
				if x < x1 && y < y1 {
					want = black
				}
				if got := p.at(x, y); got != want && bad < 5 {
					bad++
					t.Errorf("pixel (%d, %d) is %v, want %v", x, y, got, want)
				}
			}
		}
		if got := p.at(w-1, h-1); got != src.at(w-1, h-1) {
			t.Errorf("the far bottom-right corner changed: %v -> %v", src.at(w-1, h-1), got)
		}
	})
}

// ---- failing closed ----------------------------------------------------------

// TestDetectorErrorHidesWholeImage runs a model that loads (its warm-up
// frame is black) but fails inside ONNX Runtime on any frame with a pixel
// above 0: its graph gathers from a one-element tensor at the index of the
// largest pixel value. The image must come out wholly hidden, and the run
// must say so and exit 1. Its label is "blob", one without a canary: a face
// model failing like this is refused at load, on the canary photo.
func TestDetectorErrorHidesWholeImage(t *testing.T) {
	cfg := repoConfig(t)
	root := t.TempDir()
	dir := filepath.Join(root, "failing-model")
	writeFile(t, filepath.Join(dir, models.ModelFile), failingONNX())
	writeFile(t, filepath.Join(dir, models.ManifestFile), []byte(`name = "fails-on-content"
version = "1"
adapter = "tfod"
description = "Test model: ONNX Runtime fails on any frame that is not all black."
labels = ["blob"]
label_base = 1
threshold = 0.5

[input]
name = "image"
dtype = "uint8"
layout = "nhwc"
colour = "rgb"
width = 0
height = 0
`))
	in, out, audit := filepath.Join(root, "in.png"), filepath.Join(root, "out"), filepath.Join(root, "audit.json")
	writePNG(t, in, 40, 30, func(x, y int) color.NRGBA { return color.NRGBA{uint8(5 * x), uint8(7 * y), 90, 255} })
	code, _, stderr := runCLI(t, "--config", cfg, "--model", dir, "--style", "solid", "--format", "png", "--out", out, "--audit", audit, in)
	if code != exitSomeFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitSomeFailed, stderr)
	}
	if !strings.Contains(stderr, "1 hidden whole after a detector error") {
		t.Errorf("summary does not count the image hidden whole:\n%s", stderr)
	}
	if l := stderrLines(stderr, "in.png"); len(l) != 1 || !strings.Contains(l[0], "level=ERROR") {
		t.Errorf("stderr does not name in.png in one error line:\n%s", stderr)
	}
	p := decode(t, filepath.Join(out, "in.png"))
	for i := 0; i < len(p.bgr); i += 3 {
		if px := [3]byte(p.bgr[i : i+3]); px != black {
			t.Fatalf("pixel (%d, %d) is %v: after a detector error the whole image must be hidden", i/3%p.w, i/3/p.w, px)
		}
	}
	if im := readAudit(t, audit).image(t, in); im.Status != "hidden-whole" || im.Error == "" {
		t.Errorf("audit: status %q, error %q; want hidden-whole with the error", im.Status, im.Error)
	}
}

// failingONNX is a model with the TF Object Detection API signature of the
// mock (mock.ONNX) whose num_detections is
// Gather([0.0], Reshape(ReduceMax(Cast(image, int64)), [1])): 0 for an
// all-black frame, an out-of-bounds index (an ONNX Runtime error) otherwise.
// It is built here with the protobuf wire format, field numbers as in
// onnx.proto.
func failingONNX() []byte {
	const (
		tFloat = 1
		tUint8 = 2
		tInt64 = 7
	)
	bytesField := func(b []byte, f protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, f, protowire.BytesType), v)
	}
	str := func(b []byte, f protowire.Number, s string) []byte { return bytesField(b, f, []byte(s)) }
	varint := func(b []byte, f protowire.Number, v int64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, f, protowire.VarintType), uint64(v))
	}
	// TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9.
	tensor := func(name string, dtype int64, dims []int64, values ...float64) []byte {
		var b []byte
		for _, d := range dims {
			b = varint(b, 1, d)
		}
		b = varint(b, 2, dtype)
		b = str(b, 8, name)
		var raw []byte
		for _, v := range values {
			if dtype == tFloat {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(v)))
			} else {
				raw = binary.LittleEndian.AppendUint64(raw, uint64(int64(v)))
			}
		}
		return bytesField(b, 9, raw)
	}
	// AttributeProto: name = 1, i = 3, type = 20 (INT = 2).
	attrInt := func(name string, v int64) []byte { return varint(varint(str(nil, 1, name), 3, v), 20, 2) }
	// NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
	node := func(op string, ins []string, out string, attrs ...[]byte) []byte {
		var b []byte
		for _, s := range ins {
			b = str(b, 1, s)
		}
		b = str(str(str(b, 2, out), 3, out), 4, op)
		for _, a := range attrs {
			b = bytesField(b, 5, a)
		}
		return b
	}
	// ValueInfoProto: name = 1, type = 2; TypeProto.tensor_type = 1;
	// Tensor: elem_type = 1, shape = 2; TensorShapeProto.dim = 1;
	// Dimension: dim_value = 1, dim_param = 2.
	valueInfo := func(name string, elem int64, dims ...any) []byte {
		var shape []byte
		for _, d := range dims {
			var dim []byte
			switch d := d.(type) {
			case int:
				dim = varint(nil, 1, int64(d))
			case string:
				dim = str(nil, 2, d)
			}
			shape = bytesField(shape, 1, dim)
		}
		tt := bytesField(varint(nil, 1, elem), 2, shape)
		return bytesField(str(nil, 1, name), 2, bytesField(nil, 1, tt))
	}
	// GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
	var g []byte
	for _, n := range [][]byte{
		node("Cast", []string{"image"}, "image_i64", attrInt("to", tInt64)),
		node("ReduceMax", []string{"image_i64"}, "max_4d", attrInt("keepdims", 1)),
		node("Reshape", []string{"max_4d", "shape_1"}, "max_index"),
		node("Gather", []string{"zero_1", "max_index"}, "num_detections", attrInt("axis", 0)),
		node("Identity", []string{"boxes"}, "detection_boxes"),
		node("Identity", []string{"scores"}, "detection_scores"),
		node("Identity", []string{"classes"}, "detection_classes"),
	} {
		g = bytesField(g, 1, n)
	}
	g = str(g, 2, "fails-on-content")
	for _, init := range [][]byte{
		tensor("shape_1", tInt64, []int64{1}, 1),
		tensor("zero_1", tFloat, []int64{1}, 0),
		tensor("boxes", tFloat, []int64{1, 1, 4}, 0, 0, 1, 1),
		tensor("scores", tFloat, []int64{1, 1}, 0),
		tensor("classes", tFloat, []int64{1, 1}, 1),
	} {
		g = bytesField(g, 5, init)
	}
	g = bytesField(g, 11, valueInfo("image", tUint8, 1, "height", "width", 3))
	g = bytesField(g, 12, valueInfo("detection_boxes", tFloat, 1, 1, 4))
	g = bytesField(g, 12, valueInfo("detection_scores", tFloat, 1, 1))
	g = bytesField(g, 12, valueInfo("detection_classes", tFloat, 1, 1))
	g = bytesField(g, 12, valueInfo("num_detections", tFloat, 1))
	// ModelProto: ir_version = 1, graph = 7, opset_import = 8
	// (OperatorSetIdProto.version = 2).
	m := varint(nil, 1, 8)
	m = bytesField(m, 7, g)
	return bytesField(m, 8, varint(nil, 2, 13))
}

// TestOutInsideInputKeepsOriginals: --out naming a folder inside the input
// that already holds photos anonymize did not write is refused with
// --overwrite (the original there would be replaced by the anonymized copy
// of its namesake); a new output folder inside the input is marked as
// anonymize's, so later --overwrite runs may replace what it wrote.
func TestOutInsideInputKeepsOriginals(t *testing.T) {
	cfg := repoConfig(t)
	in := t.TempDir()
	copyFile(t, shared(t, "group_uf2.jpg"), filepath.Join(in, "a.jpg"))
	copyFile(t, shared(t, "astronaut.png"), filepath.Join(in, "clean", "a.jpg")) // an original, not an output
	before := treeState(t, in)
	code, _, stderr := runCLI(t, "--config", cfg, "-q", "--overwrite", "--out", filepath.Join(in, "clean"), in)
	if code != exitUsage || !strings.Contains(stderr, "did not write") {
		t.Errorf("--out over originals inside the input with --overwrite: exit %d, %s; want %d and why", code, stderr, exitUsage)
	}
	if after := treeState(t, in); !mapsEqual(after, before) {
		t.Errorf("the input tree changed:\nbefore %v\nafter  %v", before, after)
	}

	fresh := filepath.Join(in, "anon")
	for run := 1; run <= 2; run++ {
		if code, _, stderr := runCLI(t, "--config", cfg, "-q", "--overwrite", "--out", fresh, in); code != exitOK {
			t.Fatalf("run %d into a new folder inside the input: exit %d, %s", run, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(fresh, ".anonymize-output")); err != nil {
		t.Errorf("output folder not marked: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh, "a.jpg")); err != nil {
		t.Errorf("no output: %v", err)
	}
}
