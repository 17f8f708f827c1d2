package infer_test

import (
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/infer"
)

// BenchmarkDetect times Model.Detect (preprocessing, inference, decoding and
// NMS) per model on one 640x480 frame: group_uf2.jpg (four faces) resized.
// Run: go test -run XXX -bench Detect -benchtime 20x ./infer/
func BenchmarkDetect(b *testing.B) {
	rt := newRuntime(b)
	src := readPhoto(b, "faces/group_uf2.jpg")
	frame := gocv.NewMat()
	defer frame.Close()
	gocv.Resize(src, &frame, image.Pt(640, 480), 0, 0, gocv.InterpolationArea)
	for _, fm := range faceModels {
		b.Run(fm.name, func(b *testing.B) {
			m := load(b, rt, modelDir(b, fm.name), infer.LoadOptions{})
			faces := 0
			b.ResetTimer()
			for range b.N {
				dets, err := m.Detect(frame)
				if err != nil {
					b.Fatal(err)
				}
				faces = len(dets)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
			b.ReportMetric(float64(faces), "faces")
		})
	}
}
