package live

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/imageio"
	"github.com/anonymize/anonymize/video/internal/videotest"
)

// TestSourceOverMaxPixels: a source whose frames are over the cap is
// stopped at its first frame with an error naming it and the size; no
// frame reaches Read, and it is not reopened (it would send the same).
func TestSourceOverMaxPixels(t *testing.T) {
	tmpl := liveTemplate(320, 240)
	defer tmpl.Close()
	var opens atomic.Int64
	open := func() (Capture, error) { opens.Add(1); return newLiveFakeCapture(tmpl, 0), nil }
	var logs testenv.LogBuffer
	src := Start(context.Background(), nil, open, Options{Name: "cam", MaxPixels: 320*240 - 1, Log: logs.Logger()})
	defer src.Close()
	f, err := src.Read()
	if err == nil {
		f.Mat.Close()
		t.Fatal("a frame over the cap was read")
	}
	if !errors.Is(err, imageio.ErrTooManyPixels) || !strings.Contains(err.Error(), "cam") || !strings.Contains(err.Error(), "320x240") {
		t.Errorf("error %q, want ErrTooManyPixels naming the source and 320x240", err)
	}
	if n := opens.Load(); n != 1 {
		t.Errorf("opened %d times, want once (not reopened)", n)
	}
	if st := src.Stats(); st.Captured != 0 {
		t.Errorf("stats %+v: frames over the cap were counted as captured", st)
	}
	logs.WaitFor(t, "live source stopped", time.Second)

	// At the cap it runs.
	src2 := Start(context.Background(), nil, open, Options{Name: "cam", MaxPixels: 320 * 240})
	defer src2.Close()
	f, err = src2.Read()
	if err != nil {
		t.Fatalf("at the cap: %v", err)
	}
	f.Mat.Close()
}

// TestCheckSizeOfAFile: a video file opened as a stream tells its size
// before any frame, so one over the cap is refused at once.
func TestCheckSizeOfAFile(t *testing.T) {
	videotest.NeedFFmpeg(t)
	clip := videotest.MakeClip(t, t.TempDir(), videotest.ClipSpec{Name: "c.mp4", W: 320, H: 240, Seconds: 0.2, Rate: "25", VideoCodec: videotest.X264})
	c, err := OpenStream(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := CheckSize(c, clip, 320*240); err != nil {
		t.Errorf("at the cap: %v", err)
	}
	err = CheckSize(c, clip, 320*240-1)
	if !errors.Is(err, imageio.ErrTooManyPixels) || !strings.Contains(err.Error(), clip) || !strings.Contains(err.Error(), "320x240") {
		t.Errorf("over the cap: %v, want ErrTooManyPixels naming the file and 320x240", err)
	}
}
