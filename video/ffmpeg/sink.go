package ffmpeg

import (
	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/video"
)

// Sink is a video.Sink writing frames into an Encoder, each at its PTS
// (Encoder.WriteAt: the video keeps the source's timing, constant or
// variable, and the gaps of frames left out). It closes each
// frame's Mat after encoding it; Close closes the Encoder (finishing the
// file). On an error the caller aborts the Encoder.
type Sink struct {
	Encoder *Encoder
	// OnFrame, when set, is called after each frame is encoded (the Mat
	// is already closed).
	OnFrame func(video.Frame, video.FrameResult)
	// Recycle, when set, takes each Mat instead of Close (for reuse; see
	// Source.Recycle).
	Recycle func(gocv.Mat)
}

// Write encodes f at f.PTS and closes (or recycles) its Mat.
func (s *Sink) Write(f video.Frame, r video.FrameResult) error {
	err := s.Encoder.WriteAt(f.Mat, f.PTS)
	if s.Recycle != nil {
		s.Recycle(f.Mat)
	} else {
		_ = f.Mat.Close()
	}
	if err != nil {
		return err
	}
	if s.OnFrame != nil {
		s.OnFrame(f, r)
	}
	return nil
}

// Close finishes the file (Encoder.Close).
func (s *Sink) Close() error { return s.Encoder.Close() }
