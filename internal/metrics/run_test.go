package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video"
	"gocv.io/x/gocv"
)

func serveGet(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

// TestRunReadinessAndCounts: /readyz is 503 with the reason until the run
// says it is ready, and follows it back; the counters show what was added
// plus what an attached source counts now, and keep a detached source's
// last counts.
func TestRunReadinessAndCounts(t *testing.T) {
	r := NewRun()
	h := r.Handler()
	if c, body := serveGet(t, h, "/readyz"); c != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Errorf("/readyz before ready: %d %s; want 503 saying starting", c, body)
	}
	if c, _ := serveGet(t, h, "/healthz"); c != http.StatusOK {
		t.Errorf("/healthz: %d", c)
	}
	r.SetReady(func() (bool, string) { return true, "" })
	if c, _ := serveGet(t, h, "/readyz"); c != http.StatusOK {
		t.Errorf("/readyz once ready: %d", c)
	}
	r.Add(Counts{FramesIn: 2, FramesOut: 2})
	live := Counts{FramesIn: 5, FramesOut: 4, DroppedQueue: 1, Reconnects: 1}
	detach := r.Attach(func() Counts { return live })
	live.FramesIn = 7 // read at the scrape, not at Attach
	_, body := serveGet(t, h, "/metrics")
	for _, want := range []string{"anonymize_frames_in_total 9", "anonymize_frames_out_total 6",
		`anonymize_frames_dropped_total{reason="queue"} 1`, "anonymize_live_reconnects_total 1", "anonymize_ready 1", "go_goroutines"} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	detach()
	live.FramesIn = 100 // no longer read
	if got := r.Counts().FramesIn; got != 9 {
		t.Errorf("after detach: frames in %d, want 9 (2 added + the source's last 7)", got)
	}
	r.SetReady(func() (bool, string) { return false, "reconnecting" })
	if c, body := serveGet(t, h, "/readyz"); c != http.StatusServiceUnavailable || !strings.Contains(body, "reconnecting") {
		t.Errorf("/readyz after ready went away: %d %s", c, body)
	}
	if c, _ := serveGet(t, h, "/v1/anonymize"); c != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", c)
	}
}

// TestNilRunCountsNothing: a run without --metrics passes a nil *Run, and
// every method is a no-op that leaves the detector as it was.
func TestNilRunCountsNothing(t *testing.T) {
	var r *Run
	r.Add(Counts{FramesIn: 1})
	r.File("done")
	r.SetReady(func() (bool, string) { return true, "" })
	r.Attach(func() Counts { return Counts{} })()
	r.Follow(nil)
	if r.Timed(nil) != nil {
		t.Error("Timed on a nil run wrapped the detector")
	}
}

// TestServeEmptyHostIsLoopback: --metrics :PORT serves this machine only,
// as serve.listen and live.preview do with an empty host, with no warning;
// 0.0.0.0 serves every interface and is warned of.
func TestServeEmptyHostIsLoopback(t *testing.T) {
	for _, c := range []struct {
		addr, host string
		warned     bool
	}{{":0", "127.0.0.1:", false}, {"0.0.0.0:0", "[::]:", true}} {
		var logs strings.Builder
		stop, err := NewRun().Serve(c.addr, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		stop()
		if !strings.Contains(logs.String(), "url=http://"+c.host) || strings.Contains(logs.String(), "without a token") != c.warned {
			t.Errorf("--metrics %s: logged %q; want it served at %s, warned %v", c.addr, logs.String(), c.host, c.warned)
		}
	}
}

// scaled is a detector that records the scale it is told and tiles.
type scaled struct{ scale float32 }

func (d *scaled) Detect(gocv.Mat) ([]convert.Detection, error) { return nil, nil }
func (d *scaled) DetectInfo(gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	return nil, convert.ModelInfo{}, nil
}
func (d *scaled) Info() convert.ModelInfo { return convert.ModelInfo{} }
func (d *scaled) DetectScaled(_ gocv.Mat, s float32) ([]convert.Detection, convert.ModelInfo, error) {
	d.scale = s
	return nil, convert.ModelInfo{}, nil
}
func (d *scaled) Revisits() bool { return true }

// TestTimedPassesScale: timing a detector keeps what the video path asks
// of it: the scale of a shrunk frame (size-aware thresholds at source
// heights) and whether it tiles (the pipeline then keeps a tracker).
func TestTimedPassesScale(t *testing.T) {
	d := &scaled{}
	timed := NewRun().Timed(d)
	sd, ok := timed.(video.ScaledDetector)
	if !ok {
		t.Fatal("the timed detector is not a video.ScaledDetector")
	}
	img := gocv.NewMat()
	defer img.Close()
	sd.DetectScaled(img, 3)
	if d.scale != 3 {
		t.Errorf("scale %g reached the detector, want 3", d.scale)
	}
	if r, ok := timed.(interface{ Revisits() bool }); !ok || !r.Revisits() {
		t.Error("the timed detector hides that its detector tiles")
	}
}
