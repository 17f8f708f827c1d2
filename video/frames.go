package video

import (
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
)

// Frame is one decoded video frame (8-bit BGR). Whoever holds a Frame owns
// its Mat: a Source hands it to the pipeline, the pipeline hands it to the
// Sink, and the Sink (or the pipeline, when a frame is dropped) closes it.
type Frame struct {
	Index int           // 0-based position in the source
	PTS   time.Duration // presentation time, when the source knows it
	Mat   gocv.Mat
}

// Source yields frames in order. Read returns io.EOF after the last frame.
type Source interface {
	Read() (Frame, error)
	Close() error
}

// FrameResult says what happened to a frame on its way through.
type FrameResult struct {
	Detections []convert.Detection
	// Model is the detector that looked at the frame (its version shows
	// which side of a model swap the frame fell on).
	Model convert.ModelInfo
	// HiddenWhole is set when detection failed and the whole frame was
	// hidden instead (fail closed); Err says why.
	HiddenWhole bool
	Err         error
}

// Sink receives anonymized frames in source order and owns each frame's
// Mat from the call on (it must close it).
type Sink interface {
	Write(f Frame, r FrameResult) error
	Close() error
}
