package ffmpeg

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/video/internal/videotest"
)

// TestFrameTimes: frames written with WriteAt keep their times (a gap of
// a second, uneven spacing), a time not after the one before is moved just
// after it rather than lost, and Source reads the times back; for frames
// passing as I420 and as BGR (odd size).
func TestFrameTimes(t *testing.T) {
	videotest.NeedFFmpeg(t)
	ms := time.Millisecond
	written := []time.Duration{500 * ms, 533 * ms, 567 * ms, 1567 * ms, 1580 * ms, 1580 * ms, 1700 * ms}
	// (the second 1580 ms goes one tick of 1/90000 s later)
	want := []time.Duration{0, 33 * ms, 67 * ms, 1067 * ms, 1080 * ms, 1080*ms + 11112, 1200 * ms}
	for _, size := range [][2]int{{64, 48}, {65, 49}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "times.mp4")
			frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(40, 80, 120, 0), size[1], size[0], gocv.MatTypeCV8UC3)
			defer frame.Close()
			e, err := NewEncoder(out, size[0], size[1], 30, EncodeOptions{Preset: "ultrafast"})
			if err != nil {
				t.Fatal(err)
			}
			for _, pts := range written {
				if err := e.WriteAt(frame, pts); err != nil {
					e.Abort()
					t.Fatal(err)
				}
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			got := videotest.FramePTS(t, out)
			if len(got) != len(want) {
				t.Fatalf("%d frames, want %d", len(got), len(want))
			}
			for i, w := range want {
				if d := got[i] - got[0] - w.Seconds(); math.Abs(d) > 1e-4 {
					t.Errorf("frame %d at %.6f s from the first, want %.6f", i, got[i]-got[0], w.Seconds())
				}
			}
			checkSourceTimes(t, out, got)
		})
	}
}

// checkSourceTimes fails unless Source reads path's frames at the times
// ffprobe gives (want, in seconds).
func checkSourceTimes(t *testing.T, path string, want []float64) {
	t.Helper()
	info, err := Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(context.Background(), info)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := 0; ; i++ {
		f, err := src.Read()
		if err == io.EOF {
			if i != len(want) {
				t.Errorf("Source read %d frames, want %d", i, len(want))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Mat.Close()
		if i < len(want) && math.Abs(f.PTS.Seconds()-want[i]) > 1e-6 {
			t.Errorf("Source: frame %d at %v, ffprobe says %.6f s", i, f.PTS, want[i])
		}
	}
}

// TestSourceDuplicateTimes: a file two of whose frames share a time (as
// remuxers write them) is read whole, every frame once, the second of the
// two one tick of the stream's time base after the first, the others at
// their own times: not refused as "truncated or corrupt".
func TestSourceDuplicateTimes(t *testing.T) {
	videotest.NeedFFmpeg(t)
	dir := t.TempDir()
	base, dup := filepath.Join(dir, "base.mkv"), filepath.Join(dir, "dup.mkv")
	videotest.FFmpegRun(t, "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-frames:v", "20", "-c:v", "mpeg4", base)
	videotest.FFmpegRun(t, "-i", base, "-c", "copy", "-bsf:v", "setts=ts='if(eq(N,10),PREV_OUTPTS,TS)'", dup)
	want := videotest.FramePTS(t, dup)
	if len(want) != 20 || want[10] != want[9] {
		t.Fatalf("the test file's frame times %v: want 20 with frames 9 and 10 at the same time", want)
	}
	want[10] += 0.001 // mkv's time base is 1 ms
	checkSourceTimes(t, dup, want)
}

// TestNominalPTS: frames written with Write at 29.97 fps stay on the
// rate's grid after an hour (frame n at n*1001/30000 s, to the
// nanosecond), not a sum of rounded frame lengths 33 µs off.
func TestNominalPTS(t *testing.T) {
	r := Rational{30000, 1001}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{0, 0}, {1, 33366667}, {3, 100100000}, {108000, 3603600 * time.Millisecond}, {100000, 3336666666667}} {
		if got := nominalPTS(tc.n, r); got != tc.want {
			t.Errorf("frame %d at %d ns, want %d", tc.n, got, tc.want)
		}
	}
}

// TestReadPTS: the decoder's framecrc listing gives each frame's time in
// its time base; a frame without one (AV_NOPTS_VALUE) is unknown, and a
// time of -1 ns (a nanosecond time base) is a time, not "unknown".
func TestReadPTS(t *testing.T) {
	listing := "#software: Lavf59.27.100\n#tb 0: 1/90000\n#media_type 0: video\n" +
		"0,          0,       3003,     3003,      416, 0x1c0b5a1d\n" +
		"0,       3003, -9223372036854775808,     3003,      416, 0x1c0b5a1d\n" +
		"#tb 0: 1/1000000000\n" +
		"0,         -1,         -1,        1,      416, 0x1c0b5a1d\n"
	ch := make(chan time.Duration, 8)
	readPTS(strings.NewReader(listing), ch, make(chan struct{}))
	var got []time.Duration
	for pts := range ch {
		got = append(got, pts)
	}
	want := []time.Duration{33366667, unknownPTS, -1}
	if !slices.Equal(got, want) {
		t.Errorf("times %v, want %v", got, want)
	}
}
