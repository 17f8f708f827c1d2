package video

import (
	"context"
	"fmt"
	"image"
	"io"
	"log/slog"
	"testing"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// Tests and benchmarks of the pipeline with the real yunet-n-dynamic (they
// need ONNX Runtime, through infer, which only tests here import).

// loadYunet loads the installed yunet-n-dynamic on the CPU; it is closed
// when the test ends.
func loadYunet(t testing.TB, intraOpThreads int) *infer.Model {
	t.Helper()
	rt, err := infer.Init(infer.Options{
		Library: testenv.ORTLibrary(t), Providers: []string{"cpu"},
		IntraOpThreads: intraOpThreads, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("init onnx runtime: %v", err)
	}
	m, err := rt.Load(testenv.Model(t, "yunet-n-dynamic"), infer.LoadOptions{})
	if err != nil {
		t.Fatalf("load yunet-n-dynamic: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// cloneSource yields n clones of img.
func cloneSource(img gocv.Mat, n int) *sliceSource {
	return &sliceSource{n: n, frame: func(int) gocv.Mat { return img.Clone() }}
}

// TestPipelineRealModel: yunet finds the four faces of group_uf2 in every
// frame and the pipeline changes the pixels at each face's centre.
func TestPipelineRealModel(t *testing.T) {
	const n = 30
	det := loadYunet(t, 0)
	orig, err := imageio.Read(testenv.Shared(t, "data/faces/group_uf2.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	want := orig.ToBytes()
	w, ch := orig.Cols(), orig.Channels()

	sink := newMemSink(t, false)
	var unchanged []string
	sink.onWrite = func(f Frame, r FrameResult) {
		got := f.Mat.ToBytes()
		for _, d := range r.Detections {
			// The centre quarter of the face: its mean difference from
			// the original must be clearly above zero.
			cx, cy := int((d.Box.X1+d.Box.X2)/2), int((d.Box.Y1+d.Box.Y2)/2)
			rx, ry := max(int(d.Box.W()/8), 1), max(int(d.Box.H()/8), 1)
			var sum, cnt int
			for y := cy - ry; y <= cy+ry; y++ {
				for x := cx - rx; x <= cx+rx; x++ {
					for c := range ch {
						o := (y*w+x)*ch + c
						sum += absInt(int(got[o]) - int(want[o]))
						cnt++
					}
				}
			}
			if mean := float64(sum) / float64(cnt); mean < 2 {
				unchanged = append(unchanged, fmt.Sprintf("frame %d face at (%d,%d): mean change %.2f", f.Index, cx, cy, mean))
			}
		}
	}
	st, err := RunPipeline(context.Background(), cloneSource(orig, n), det, sink, PipelineOptions{Workers: 2})
	if err != nil {
		t.Fatalf("RunPipeline: %v", err)
	}
	if st.Read != n || st.Written != n || st.Detections != 4*n || st.HiddenWhole != 0 {
		t.Errorf("stats %+v, want %d frames written with 4 detections each", st, n)
	}
	for i := range n {
		r := sink.results[i]
		if len(r.Detections) != 4 || r.Err != nil || r.Model.Name != det.Info().Name {
			t.Errorf("frame %d: %d detections, error %v, model %q; want 4 by %q", i, len(r.Detections), r.Err, r.Model.Name, det.Info().Name)
		}
	}
	for _, u := range unchanged {
		t.Error(u)
	}
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// encodeSink JPEG-encodes each frame, as a file or stream writer would,
// and closes it.
type encodeSink struct{ bytes int }

func (s *encodeSink) Write(f Frame, _ FrameResult) error {
	defer f.Mat.Close()
	b, err := imageio.Encode(f.Mat, ".jpg", 90)
	s.bytes += len(b)
	return err
}

func (s *encodeSink) Close() error { return nil }

// BenchmarkPipeline times yunet-n-dynamic through the pipeline on 640x480
// frames (group_uf2.jpg, four faces, resized): each frame is cloned from
// the photo (the source), detected, blurred and JPEG-encoded (the sink).
// "serial" does the same steps one after another in one goroutine, the
// baseline the pipeline's overlap is measured against.
// Run: go test -run XXX -bench Pipeline -benchtime 60x ./video/
func BenchmarkPipeline(b *testing.B) {
	src, err := imageio.Read(testenv.Shared(b, "data/faces/group_uf2.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	gocv.Resize(src, &frame, image.Pt(640, 480), 0, 0, gocv.InterpolationArea)

	for _, threads := range []int{0, 1} {
		det := loadYunet(b, threads)
		name := func(s string) string {
			if threads == 0 {
				return s
			}
			return fmt.Sprintf("%s,intra-op=%d", s, threads)
		}
		report := func(b *testing.B, dets int) {
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
			b.ReportMetric(float64(dets)/float64(b.N), "faces/frame")
		}
		b.Run(name("serial"), func(b *testing.B) {
			s := cloneSource(frame, b.N)
			sink := &encodeSink{}
			dets := 0
			b.ResetTimer()
			for {
				f, err := s.Read()
				if err == io.EOF {
					break
				}
				d, info, err := det.DetectInfo(f.Mat)
				if err != nil {
					f.Mat.Close()
					b.Fatal(err)
				}
				dets += len(d)
				if err := hide.Boxes(&f.Mat, hide.BoxesOf(d), hide.Options{}); err != nil {
					f.Mat.Close()
					b.Fatal(err)
				}
				if err := sink.Write(f, FrameResult{Detections: d, Model: info}); err != nil {
					b.Fatal(err)
				}
			}
			report(b, dets)
		})
		for _, workers := range []int{1, 2} {
			b.Run(name(fmt.Sprintf("workers=%d", workers)), func(b *testing.B) {
				s := cloneSource(frame, b.N)
				b.ResetTimer()
				st, err := RunPipeline(context.Background(), s, det, &encodeSink{}, PipelineOptions{Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				if st.Written != b.N {
					b.Fatalf("stats %+v, want %d frames written", st, b.N)
				}
				report(b, st.Detections)
			})
		}
		// The same with temporal safety on: the writer also tracks the
		// faces and holds 6 frames back for look-ahead.
		b.Run(name("workers=2,persist=5,lookahead=5"), func(b *testing.B) {
			s := cloneSource(frame, b.N)
			b.ResetTimer()
			st, err := RunPipeline(context.Background(), s, det, &encodeSink{}, PipelineOptions{Workers: 2, Persist: 5, Lookahead: 5})
			if err != nil {
				b.Fatal(err)
			}
			if st.Written != b.N {
				b.Fatalf("stats %+v, want %d frames written", st, b.N)
			}
			report(b, st.Detections)
		})
	}
}
