package batch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/internal/videotest"
)

// BenchmarkVideoFile times whole files through AnonymizeFile, frames per
// second from decoding to the finished file, in three modes on the same
// decoder and encoder: "transcode" (no detection: the limit for the
// rest), and yunet-n-dynamic on every frame with one and with two ONNX
// Runtime threads per inference (two pipeline workers either way).
//
// The files are the shared videos, or $BENCH_VIDEOS (comma-separated);
// $BENCH_CODEC, $BENCH_PRESET and $BENCH_MAXSIDE (detector input's longer
// side, default DefaultDetectMaxSide) change the settings.
// scripts/bench_video.sh runs it on 720p and 1080p clips too:
//
//	go test -run XXX -bench VideoFile -benchtime 1x ./video/
func BenchmarkVideoFile(b *testing.B) {
	videotest.NeedFFmpeg(b)
	var files []string
	if v := os.Getenv("BENCH_VIDEOS"); v != "" {
		files = strings.Split(v, ",")
	} else {
		for _, f := range []string{"video_01.mp4", "video_02.mp4", "new_face_video-90.mp4"} {
			files = append(files, testenv.Shared(b, "data/video/"+f))
		}
	}
	enc := ffmpeg.EncodeOptions{Codec: envOr("BENCH_CODEC", "libx264"), Preset: envOr("BENCH_PRESET", "ultrafast"), CRF: 23}
	maxSide, err := strconv.Atoi(envOr("BENCH_MAXSIDE", strconv.Itoa(video.DefaultDetectMaxSide)))
	if err != nil {
		b.Fatal(err)
	}
	dets := map[string]video.Detector{"transcode": nopDetector{}}
	for _, n := range []int{1, 2} {
		dets[fmt.Sprintf("threads=%d", n)] = loadYunet(b, n)
	}
	for _, f := range files {
		for _, mode := range []string{"transcode", "threads=1", "threads=2"} {
			b.Run(filepath.Base(f)+"/"+mode, func(b *testing.B) {
				frames := 0
				cpu0 := cpuTime()
				for range b.N {
					out := filepath.Join(b.TempDir(), filepath.Base(f))
					res, err := AnonymizeFile(context.Background(), dets[mode], f, out, FileOptions{
						Encode: enc, KeepAudio: true, DetectMaxSide: detectSide(mode, maxSide),
						Pipeline: video.PipelineOptions{Hide: hide.Options{Style: hide.Blur}},
					})
					if err != nil {
						b.Fatal(err)
					}
					frames += res.Stats.Written
				}
				b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
				// CPU time (this process and its ffmpeg children) per frame:
				// steadier than frames/s when other work shares the cores.
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(frames), "cpu-ms/frame")
			})
		}
	}
}

// cpuTime is the user and system time of this process and its waited-for
// children.
func cpuTime() time.Duration {
	var t time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			t += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return t
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// detectSide is maxSide, or 0 for "transcode": no detector, no shrinking.
func detectSide(mode string, maxSide int) int {
	if mode == "transcode" {
		return 0
	}
	return maxSide
}
