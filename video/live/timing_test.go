package live

import (
	"context"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/internal/videotest"
)

// serveMJPEG streams frames frames of a 30 fps test picture, in real time,
// as multipart JPEG to the first client of a loopback port, then ends. It
// returns the URL and a channel closed when the server has ended.
func serveMJPEG(t *testing.T, frames int) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-frames:v", strconv.Itoa(frames),
		"-q:v", "3", "-f", "mpjpeg", "-listen", "1", url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return url, done
}

// TestLiveSegmentTrueToSource: the segment of a stream of 3 s at 30 fps
// (90 frames, a rate the stream does not state) holds its 90 frames over
// its 3 s, and is finalised while the stream is down, within 3 s of its
// end. (Segments were timed at 25 fps until the rate was measured: the
// first held 75 frames of the 90, and lasted 3 s only by leaving 15 out.)
func TestLiveSegmentTrueToSource(t *testing.T) {
	videotest.NeedFFmpeg(t)
	const frames, fps = 90, 30
	url, ended := serveMJPEG(t, frames)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var log testenv.LogBuffer
	src := Start(ctx, nil, func() (Capture, error) { return OpenStream(url) },
		Options{Name: url, Queue: frames, ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, Log: log.Logger()})
	dir := t.TempDir()
	sink, err := NewSegmentSink(SegmentOptions{Dir: dir, Length: time.Minute, FPS: src.FPS,
		Start: src.Start(), Encode: ffmpeg.EncodeOptions{Preset: "ultrafast"}, Log: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	close(gate) // a detector that answers at once
	res := make(chan error, 1)
	go func() {
		_, err := video.RunPipeline(ctx, src, &liveGatedDetector{gate: gate}, sink, video.PipelineOptions{Workers: 1})
		res <- err
	}()
	<-ended
	stopped := time.Now()
	testenv.WaitFor(t, 10*time.Second, "the segment to be finalised while the stream is down", func() bool {
		return sink.Stats().Segments == 1
	}, log.String)
	finalised := time.Since(stopped).Round(10 * time.Millisecond)
	cancel()
	<-res
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	src.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want 1; log:\n%s", segs, log.String())
	}
	ls, st := src.Stats(), sink.Stats()
	n, secs := segmentTiming(t, segs[0])
	t.Logf("segment finalised %v after the stream ended: %d frames over %.3f s", finalised, n, secs)
	if ls.Captured != frames || ls.Dropped != 0 || n != frames || st.InFiles != frames {
		t.Errorf("stream of %d frames: %d captured, %d dropped, %d in the file, %d counted in files", frames, ls.Captured, ls.Dropped, n, st.InFiles)
	}
	if want := float64(frames) / fps; math.Abs(secs-want) > 0.1*want {
		t.Errorf("segment lasts %.3f s, the stream %.3f s", secs, want)
	}
}

// segmentTiming is the number of frames and the duration of a segment file
// (ffprobe, decoding every frame).
func segmentTiming(t *testing.T, path string) (int, float64) {
	t.Helper()
	p := videotest.FFprobeFile(t, path)
	if len(p.Streams) == 0 {
		t.Fatalf("ffprobe %s: no stream", path)
	}
	n, _ := strconv.Atoi(p.Streams[0].NbReadFrames)
	secs, _ := strconv.ParseFloat(p.Streams[0].Duration, 64)
	if n == 0 || secs == 0 {
		t.Fatalf("ffprobe %s: %d frames over %g s", path, n, secs)
	}
	return n, secs
}
