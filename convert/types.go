// Package convert turns frames into input tensors and raw model outputs into
// detections: letterboxing, per-signature decoders (adapters) and NMS.
//
// Everything here is plain Go over slices and links no C library: the fill of
// an input tensor from a gocv Mat, as a Preprocess plans it, is in the
// subpackage convert/tensor.
package convert

// Box is an axis-aligned rectangle in pixels of the source image:
// (X1,Y1) top-left inclusive, (X2,Y2) bottom-right exclusive.
type Box struct {
	X1 float32 `json:"x1"`
	Y1 float32 `json:"y1"`
	X2 float32 `json:"x2"`
	Y2 float32 `json:"y2"`
}

// W is the box width (never negative).
func (b Box) W() float32 { return max(b.X2-b.X1, 0) }

// H is the box height (never negative).
func (b Box) H() float32 { return max(b.Y2-b.Y1, 0) }

// Area is W*H.
func (b Box) Area() float32 { return b.W() * b.H() }

// Point is a keypoint in source pixels.
type Point struct {
	X, Y float32
}

// Detection is one object found in a frame.
type Detection struct {
	Box       Box     `json:"box"`
	Score     float32 `json:"score"`
	Class     int     `json:"class"`
	Label     string  `json:"label"`
	Keypoints []Point `json:"keypoints,omitempty"`
	// Model names the model that found it, when several run at once.
	Model string `json:"model,omitempty"`
	// Source is empty for a detection the model made in this frame. A
	// region hidden for temporal safety is recorded as a Detection too,
	// with Source SourcePersist or SourceLookahead and the Label, Class,
	// Model and Score of the sighting it comes from.
	Source string `json:"source,omitempty"`
	// Revisit is set by a detection schedule that looks at this part of
	// the frame this closely only every Revisit frames (video.Schedule's
	// tiles): the tracker keeps hiding the region until then. 0: the next
	// frame looks again.
	Revisit int `json:"-"`
}

// Sources of regions hidden without a detection in the frame itself.
const (
	// SourcePersist: a face seen in an earlier frame and missed in this
	// one, predicted from its motion.
	SourcePersist = "persist"
	// SourceLookahead: a face first seen in a later frame, moved back
	// along its motion.
	SourceLookahead = "lookahead"
)

// DType is the element type of a tensor.
type DType int

const (
	Float32 DType = iota
	Uint8
	Int64
	Int32
	OtherType
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Uint8:
		return "uint8"
	case Int64:
		return "int64"
	case Int32:
		return "int32"
	}
	return "other"
}

// TensorInfo describes one model input or output. A dimension of -1 is
// dynamic (in a model) or "any" (in a contract).
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int64
}

// Output is one raw model output, converted to float32.
type Output struct {
	Name  string
	Shape []int64
	Data  []float32
}

// Filter returns the detections for which keep is true.
func Filter(dets []Detection, keep func(Detection) bool) []Detection {
	out := make([]Detection, 0, len(dets))
	for _, d := range dets {
		if keep(d) {
			out = append(out, d)
		}
	}
	return out
}
