// Package mock writes the mock model: a small ONNX graph with the signature
// of a TF Object Detection API export that finds red, for tests and for
// `anonymize models mock`.
package mock

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/models"
)

// Manifest is the manifest (models.ManifestFile) that Write writes beside
// the mock model.
const Manifest = `name = "mock"
version = "1"
adapter = "tfod"
description = "Test model: detection 0 is the whole image, detection 1 the top-left quadrant; score = fraction of exactly red pixels."
labels = ["red"]
label_base = 1
hide = ["red"]
threshold = 0.5

[input]
name = "image"
dtype = "uint8"
layout = "nhwc"
colour = "rgb"
# width and height 0: the model takes the image at its own size
width = 0
height = 0
`

// Tensor element types: TensorProto.DataType in onnx.proto.
const (
	tFloat = 1
	tUint8 = 2
	tInt64 = 7
)

// Versions written into the mock model.
const (
	mockIRVersion = 8  // ONNX IR version 8 (ONNX 1.10 and later)
	mockOpset     = 13 // default-domain opset: ReduceMin/ReduceProd take axes as an attribute, ReduceSum as an input
)

// ONNX returns the mock detector as a serialised ONNX model (a ModelProto
// of about 2 KB, standard operators only). It has the signature of a
// TensorFlow Object Detection API export:
//
//	input   image              uint8   [1, height, width, 3]  NHWC, RGB; height and width dynamic
//	output  detection_boxes    float32 [1, 2, 4]  (ymin, xmin, ymax, xmax), normalised 0..1
//	output  detection_scores   float32 [1, 2]
//	output  detection_classes  float32 [1, 2]     always 1 (class ids count from 1: "red")
//	output  num_detections     float32 [1]        always 2
//
// Detection 0 is the whole image, box (0, 0, 1, 1). Detection 1 is the
// top-left quadrant, box (0, 0, 0.5, 0.5), made of the pixels in rows
// 0 .. floor(H/2)-1 and columns 0 .. floor(W/2)-1: for an odd size the middle
// row or column is left out (a 5x7 image, H=5 and W=7, has a 2x3 quadrant).
// Each score is the fraction of the pixels in its region whose colour is
// exactly RGB (255, 0, 0). An image with H or W equal to 1 has an empty
// quadrant, whose score is 0 (not NaN). The detections are in this fixed
// order, not sorted by score as a real TF OD API export would be.
//
// Pixel counts are summed in float32, so the scores are exact fractions for
// images of up to 2^24 pixels. The returned bytes are the same on every call.
func ONNX() []byte { return ONNXColour(255, 0, 0) }

// ONNXColour is ONNX scoring the colour RGB (r, g, b) instead of red.
func ONNXColour(r, g, b uint8) []byte { return build(r, g, b, 1) }

// ONNXNaN is ONNX with every score NaN (the red fractions times a NaN
// constant): a broken detector, for the tests that such output fails the
// frame instead of passing for "nothing found".
func ONNXNaN() []byte { return build(255, 0, 0, float32(math.NaN())) }

// ONNXBlind is ONNX with every score 0 (the red fractions times 0): a
// broken detector whose outputs are valid numbers that find nothing, for
// the tests that such a model is refused by what it finds (infer's canary).
func ONNXBlind() []byte { return build(255, 0, 0, 0) }

// build is the mock graph scoring RGB (r, g, b), its scores multiplied by
// poison (1 for the working mock).
func build(r, g, b uint8, poison float32) []byte {
	// The graph, in words: mask[n,y,x] = 1 where all three channels of the
	// pixel equal the colour, else 0; sum the mask over the whole image and
	// over the quadrant; divide each sum by its pixel count, clamped to at
	// least 1 so that an empty quadrant scores 0/1 = 0.
	nodes := [][]byte{
		node("image_to_float", "Cast", in("image"), out("image_f"), attrInt("to", tFloat)),
		node("match_channels", "Equal", in("image_f", "colour"), out("channel_match")),
		node("match_to_float", "Cast", in("channel_match"), out("channel_match_f"), attrInt("to", tFloat)),
		// The minimum over the channels is 1 only where all three matched.
		node("match_pixels", "ReduceMin", in("channel_match_f"), out("mask"),
			attrInts("axes", 3), attrInt("keepdims", 0)),

		node("image_shape", "Shape", in("image"), out("shape")),
		node("height_width", "Gather", in("shape", "hw_index"), out("hw"), attrInt("axis", 0)),
		// Integer division: floor for these non-negative sizes.
		node("half_height_width", "Div", in("hw", "two"), out("half_hw")),
		node("quadrant", "Slice", in("mask", "zeros", "half_hw", "hw_axes"), out("quadrant_mask")),

		node("sum_whole", "ReduceSum", in("mask", "hw_axes"), out("whole_sum"), attrInt("keepdims", 0)),
		node("sum_quadrant", "ReduceSum", in("quadrant_mask", "hw_axes"), out("quadrant_sum"), attrInt("keepdims", 0)),
		node("sums", "Concat", in("whole_sum", "quadrant_sum"), out("sums"), attrInt("axis", 0)),

		// [[H, W], [H/2, W/2]] multiplied along rows: the two pixel counts.
		node("extents", "Concat", in("hw", "half_hw"), out("extents"), attrInt("axis", 0)),
		node("extents_to_float", "Cast", in("extents"), out("extents_f"), attrInt("to", tFloat)),
		node("extents_2x2", "Reshape", in("extents_f", "shape_2x2"), out("extents_2x2")),
		node("counts", "ReduceProd", in("extents_2x2"), out("counts"),
			attrInts("axes", 1), attrInt("keepdims", 0)),
		node("counts_at_least_1", "Max", in("counts", "one"), out("safe_counts")),
		node("fractions", "Div", in("sums", "safe_counts"), out("fractions")),
		node("poison", "Mul", in("fractions", "poison"), out("scored")),
		node("scores", "Reshape", in("scored", "shape_1x2"), out("detection_scores")),

		node("boxes", "Constant", nil, out("detection_boxes"),
			attrTensor("value", floatTensor("", []int64{1, 2, 4}, 0, 0, 1, 1, 0, 0, 0.5, 0.5))),
		node("classes", "Constant", nil, out("detection_classes"),
			attrTensor("value", floatTensor("", []int64{1, 2}, 1, 1))),
		node("num", "Constant", nil, out("num_detections"),
			attrTensor("value", floatTensor("", []int64{1}, 2))),
	}
	initializers := [][]byte{
		floatTensor("colour", []int64{3}, float32(r), float32(g), float32(b)),
		int64Tensor("hw_index", []int64{2}, 1, 2),
		int64Tensor("two", nil, 2),
		int64Tensor("zeros", []int64{2}, 0, 0),
		int64Tensor("hw_axes", []int64{2}, 1, 2),
		int64Tensor("shape_2x2", []int64{2}, 2, 2),
		floatTensor("one", nil, 1),
		int64Tensor("shape_1x2", []int64{2}, 1, 2),
		floatTensor("poison", nil, poison),
	}

	// GraphProto (onnx.proto): node = 1, name = 2, initializer = 5,
	// doc_string = 10, input = 11, output = 12.
	var graph []byte
	for _, n := range nodes {
		graph = appendMessage(graph, 1, n)
	}
	graph = appendString(graph, 2, "mock")
	for _, t := range initializers {
		graph = appendMessage(graph, 5, t)
	}
	graph = appendString(graph, 10, fmt.Sprintf(
		"Detection 0: whole image; detection 1: rows 0..floor(H/2)-1, columns 0..floor(W/2)-1. "+
			"Score: fraction of pixels exactly RGB (%d, %d, %d); 0 for an empty region.", r, g, b))
	graph = appendMessage(graph, 11, valueInfo("image", tUint8, dimValue(1), dimParam("height"), dimParam("width"), dimValue(3)))
	graph = appendMessage(graph, 12, valueInfo("detection_boxes", tFloat, dimValue(1), dimValue(2), dimValue(4)))
	graph = appendMessage(graph, 12, valueInfo("detection_scores", tFloat, dimValue(1), dimValue(2)))
	graph = appendMessage(graph, 12, valueInfo("detection_classes", tFloat, dimValue(1), dimValue(2)))
	graph = appendMessage(graph, 12, valueInfo("num_detections", tFloat, dimValue(1)))

	// OperatorSetIdProto: domain = 1 (empty: the default ai.onnx domain,
	// left out), version = 2.
	var opset []byte
	opset = appendInt(opset, 2, mockOpset)

	// ModelProto: ir_version = 1, producer_name = 2, producer_version = 3,
	// model_version = 5, doc_string = 6, graph = 7, opset_import = 8.
	var model []byte
	model = appendInt(model, 1, mockIRVersion)
	model = appendString(model, 2, "anonymize")
	model = appendString(model, 3, "1")
	model = appendInt(model, 5, 1)
	model = appendString(model, 6, "Mock TF OD API detector for tests; see github.com/anonymize/anonymize/models/mock.ONNX.")
	model = appendMessage(model, 7, graph)
	model = appendMessage(model, 8, opset)
	return model
}

// Write writes the mock model to dir/models.ModelFile (model.onnx) and its
// manifest to dir/models.ManifestFile (model.toml), creating dir when
// missing. Each file is written to a temporary file in dir and renamed into
// place, so a reader (or a directory watcher) never sees a half-written
// file; the model is written before the manifest.
func Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write mock model: %w", err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, models.ModelFile), ONNX(), 0o644); err != nil {
		return fmt.Errorf("write mock model: %w", err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, models.ManifestFile), []byte(Manifest), 0o644); err != nil {
		return fmt.Errorf("write mock manifest: %w", err)
	}
	return nil
}

// Protobuf encoding of the few ONNX messages the mock needs, field numbers
// as in onnx.proto (proto2). Fields are written in a fixed order, so the
// output is deterministic.

func appendString(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, field protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendMessage appends an embedded message, which is encoded like bytes.
func appendMessage(b []byte, field protowire.Number, msg []byte) []byte {
	return appendBytes(b, field, msg)
}

func appendInt(b []byte, field protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, field, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func in(names ...string) []string  { return names }
func out(names ...string) []string { return names }

// node encodes a NodeProto: input = 1, output = 2, name = 3, op_type = 4,
// attribute = 5 (domain = 7 left out: the default ai.onnx domain).
func node(name, opType string, inputs, outputs []string, attrs ...[]byte) []byte {
	var b []byte
	for _, s := range inputs {
		b = appendString(b, 1, s)
	}
	for _, s := range outputs {
		b = appendString(b, 2, s)
	}
	b = appendString(b, 3, name)
	b = appendString(b, 4, opType)
	for _, a := range attrs {
		b = appendMessage(b, 5, a)
	}
	return b
}

// AttributeProto: name = 1, i = 3, t = 5, ints = 8, type = 20; and
// AttributeProto.AttributeType: INT = 2, TENSOR = 4, INTS = 7.

func attrInt(name string, v int64) []byte {
	var b []byte
	b = appendString(b, 1, name)
	b = appendInt(b, 3, v)
	return appendInt(b, 20, 2)
}

// attrInts writes the repeated int64 ints unpacked, as proto2 onnx.proto
// declares it (parsers accept either form).
func attrInts(name string, vs ...int64) []byte {
	var b []byte
	b = appendString(b, 1, name)
	for _, v := range vs {
		b = appendInt(b, 8, v)
	}
	return appendInt(b, 20, 7)
}

func attrTensor(name string, tensor []byte) []byte {
	var b []byte
	b = appendString(b, 1, name)
	b = appendMessage(b, 5, tensor)
	return appendInt(b, 20, 4)
}

// tensor encodes a TensorProto: dims = 1, data_type = 2, name = 8 (left out
// when empty, as in a Constant node's value), raw_data = 9 (little-endian
// elements). No dims makes a scalar.
func tensor(name string, dataType int64, dims []int64, raw []byte) []byte {
	var b []byte
	for _, d := range dims {
		b = appendInt(b, 1, d)
	}
	b = appendInt(b, 2, dataType)
	if name != "" {
		b = appendString(b, 8, name)
	}
	return appendBytes(b, 9, raw)
}

func floatTensor(name string, dims []int64, vs ...float32) []byte {
	raw := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	return tensor(name, tFloat, dims, raw)
}

func int64Tensor(name string, dims []int64, vs ...int64) []byte {
	raw := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
	}
	return tensor(name, tInt64, dims, raw)
}

// TensorShapeProto.Dimension: dim_value = 1, dim_param = 2.
func dimValue(v int64) []byte  { return appendInt(nil, 1, v) }
func dimParam(p string) []byte { return appendString(nil, 2, p) }
func valueInfo(name string, elemType int64, dims ...[]byte) []byte {
	// TensorShapeProto: dim = 1.
	var shape []byte
	for _, d := range dims {
		shape = appendMessage(shape, 1, d)
	}
	// TypeProto.Tensor: elem_type = 1, shape = 2.
	var tt []byte
	tt = appendInt(tt, 1, elemType)
	tt = appendMessage(tt, 2, shape)
	// TypeProto: tensor_type = 1.
	typ := appendMessage(nil, 1, tt)
	// ValueInfoProto: name = 1, type = 2.
	var b []byte
	b = appendString(b, 1, name)
	return appendMessage(b, 2, typ)
}
