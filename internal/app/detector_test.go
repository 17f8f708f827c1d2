package app

import (
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/video"
)

// infer's detectors are what video runs: video declares the methods it
// uses (video.Detector) and does not import infer, so check here, where
// both may be imported, that they still fit.
var (
	_ video.Detector = (*infer.Model)(nil)
	_ video.Detector = (*infer.Set)(nil)
	_ video.Detector = infer.Detector(nil)
)
