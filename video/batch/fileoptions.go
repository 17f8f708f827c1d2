package batch

import "github.com/anonymize/anonymize/video"

// VideoFile is what a run with o gives AnonymizeFile for each video file:
// the detector (o.Video.Detector in place of det when set) and the
// options, built as the run builds them. `anonymize eval --video WxH`
// measures through it, so it measures what a run does.
func VideoFile(det video.Detector, o Options) (video.Detector, FileOptions) {
	if o.Video.Detector != nil {
		det = o.Video.Detector
	}
	return det, fileOptions(Task{}, o)
}
