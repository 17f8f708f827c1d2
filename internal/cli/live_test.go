package cli

// End-to-end tests of live mode: an ffmpeg MJPEG server on 127.0.0.1 stands
// in for a camera (a still photo with a face, streamed in real time), and
// the CLI runs in-process with a cancellable context, as SIGINT cancels it
// in main. They wait for real time to pass in the live stream, and for log
// lines, with deadlines; never for a fixed time as synchronisation.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models/mock"
	"github.com/anonymize/anonymize/video/live"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The astronaut's face (between her eyes and mouth) is at (224, 120) of
// the 512x512 photo, which the stream keeps at its size.
const faceX, faceY = 224, 120

// mjpegServer streams the astronaut photo at 15 fps, in real time, as
// multipart JPEG to the first client of http://127.0.0.1:port.
type mjpegServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func startMJPEGServer(t *testing.T, port int) *mjpegServer {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg not installed: %v (apt-get install ffmpeg)", err)
	}
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-re", "-loop", "1", "-i", shared(t, "astronaut.png"), "-vf", "fps=15", "-q:v", "3",
		"-f", "mpjpeg", "-listen", "1", fmt.Sprintf("http://127.0.0.1:%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &mjpegServer{t: t, port: port, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.kill)
	return s
}

// kill stops the server at once, as a crashed camera would, and waits.
func (s *mjpegServer) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// liveSeconds is how long the reconnect test streams: 10 s, or
// $TEST_ANONYMIZE_LIVE_SECONDS (30 for the acceptance run).
func liveSeconds(t *testing.T) time.Duration {
	if v := os.Getenv("TEST_ANONYMIZE_LIVE_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 6 {
			t.Fatalf("TEST_ANONYMIZE_LIVE_SECONDS=%q: want a whole number of seconds, at least 6", v)
		}
		return time.Duration(n) * time.Second
	}
	return 10 * time.Second
}

// segmentFiles lists the finished segment files of dir (temporary files
// of segments being written are hidden, and skipped) with their start
// times from their names, in order.
func segmentFiles(t *testing.T, dir string) (paths []string, starts []time.Time) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		stem := strings.TrimSuffix(name, ".mp4")
		if stem == name {
			t.Errorf("unexpected file in the output: %s", name)
			continue
		}
		if i := strings.LastIndex(stem, "_"); i >= 0 {
			stem = stem[:i]
		}
		ts, err := time.Parse(live.SegmentTimeFormat, stem)
		if err != nil {
			t.Errorf("segment %s is not named by its start time: %v", name, err)
			continue
		}
		paths = append(paths, filepath.Join(dir, name))
		starts = append(starts, ts)
	}
	return paths, starts
}

// darkAt says whether the 5x5 patch around (x, y) of a BGR frame is black,
// allowing for compression.
func darkAt(m gocv.Mat, x, y int) bool {
	for dy := -2; dy <= 2; dy++ {
		for dx := -2; dx <= 2; dx++ {
			v := m.GetVecbAt(y+dy, x+dx)
			if v[0] > 40 || v[1] > 40 || v[2] > 40 {
				return false
			}
		}
	}
	return true
}

// checkSegment decodes every frame of a segment: there must be some, the
// last must decode, and the face must be hidden in each.
func checkSegment(t *testing.T, path string) int {
	t.Helper()
	if n := ffprobeFrameCount(t, path); n == 0 {
		t.Errorf("%s: ffprobe counts no frames", path)
	}
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		vc.Close()
		t.Errorf("%s: %v", path, err)
		return 0
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	n := 0
	for vc.Read(&m) && !m.Empty() {
		n++
		if m.Cols() != 512 || m.Rows() != 512 {
			t.Errorf("%s frame %d is %dx%d, want 512x512", path, n, m.Cols(), m.Rows())
			return n
		}
		if !darkAt(m, faceX, faceY) {
			t.Errorf("%s frame %d: the face is not hidden", path, n)
			return n
		}
	}
	if n == 0 {
		t.Errorf("%s: no frame decodes", path)
	}
	return n
}

func ffprobeFrameCount(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Errorf("ffprobe %s: %v\n%s", path, err, out)
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// previewFrame reads the first JPEG part the preview serves.
func previewFrame(t *testing.T, addr string) gocv.Mat {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get("http://" + addr + live.PreviewPath)
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("preview content type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	part, err := multipart.NewReader(bufio.NewReader(resp.Body), params["boundary"]).NextPart()
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	data, err := io.ReadAll(part)
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil || m.Empty() {
		m.Close()
		t.Fatalf("preview part is not a JPEG (%d bytes): %v", len(data), err)
	}
	return m
}

// TestLiveStreamReconnect is the acceptance test of live mode: a loopback
// MJPEG stream anonymized for liveSeconds with one forced disconnect (the
// server is killed and restarted on the same port) yields playable segments
// covering the time before and after it, with the face hidden in every
// frame, in the JPEG frames and in the preview; the reconnect is logged and
// counted; stopping (a cancelled context, as SIGINT does) finalises the
// open segment.
func TestLiveStreamReconnect(t *testing.T) {
	cfg := repoConfig(t)
	total := liveSeconds(t)
	port, previewPort := freePort(t), freePort(t)
	out := t.TempDir()
	srv := startMJPEGServer(t, port)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr testenv.LogBuffer
	code := make(chan int, 1)
	start := time.Now()
	go func() {
		code <- run(ctx, []string{"anonymize", "--config", cfg,
			"--stream", fmt.Sprintf("http://127.0.0.1:%d", port), "--segment", "2s", "--jpeg-every", "15",
			"--out", out, "--style", "solid", "--preview", fmt.Sprintf("127.0.0.1:%d", previewPort)},
			io.Discard, &stderr)
	}()
	logs := stderr.String
	has := func(s string) func() bool { return func() bool { return strings.Contains(stderr.String(), s) } }
	testenv.WaitFor(t, 20*time.Second, "connection to the stream", has("live source opened"), logs)

	// The preview shows the anonymized frames only.
	m := previewFrame(t, fmt.Sprintf("127.0.0.1:%d", previewPort))
	if !darkAt(m, faceX, faceY) {
		t.Error("preview: the face is not hidden")
	}
	m.Close()

	// Let the stream run for a third of the time (real time passing in a
	// live stream), then cut it.
	time.Sleep(time.Until(start.Add(total / 3)))
	cut := time.Now()
	srv.kill()
	testenv.WaitFor(t, 10*time.Second, "loss of the stream", has("live source lost"), logs)
	srv = startMJPEGServer(t, port)
	testenv.WaitFor(t, 20*time.Second, "reconnect", has("live source reconnected"), logs)
	back := time.Now()
	time.Sleep(time.Until(back.Add(max(total-back.Sub(start), 3*time.Second))))
	cancel() // as SIGINT does
	select {
	case c := <-code:
		if c != exitOK {
			t.Fatalf("exit %d, want 0 after a stop; log:\n%s", c, logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("live mode did not stop within 30 s of the stop; log:\n%s", logs())
	}
	srv.kill()

	paths, starts := segmentFiles(t, out)
	if len(paths) < 3 {
		t.Fatalf("%d segment files %v, want at least 3 over %v; log:\n%s", len(paths), paths, total, logs())
	}
	if !slices.IsSortedFunc(starts, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Errorf("segment names do not sort by time: %v", paths)
	}
	// Names are capture times (to the millisecond) in UTC.
	if first := starts[0]; first.Before(start.Add(-time.Second)) || first.After(cut) {
		t.Errorf("first segment starts at %v: not between the start (%v) and the cut (%v)", first, start, cut)
	}
	before, after := 0, 0
	frames := 0
	for i, p := range paths {
		frames += checkSegment(t, p)
		if starts[i].Before(cut) {
			before++
		}
		if !starts[i].Before(back.Add(-time.Second)) {
			after++
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("segments start at %v: want some before the cut (%v) and some after the reconnect (%v)", starts, cut, back)
	}
	// Each of the 2 s segments plays about its time: the whole adds up to
	// the time streamed, less the outage (some frames are left out only
	// when capture outruns the file's rate).
	if frames == 0 {
		t.Error("no frames decoded")
	}

	jpegs, _ := filepath.Glob(filepath.Join(out, "frames", "*.jpg"))
	if len(jpegs) == 0 {
		t.Error("no JPEG frames written with --jpeg-every 15")
	}
	for _, p := range jpegs {
		m := gocv.IMRead(p, gocv.IMReadColor)
		if m.Empty() || !darkAt(m, faceX, faceY) {
			t.Errorf("JPEG frame %s: unreadable, or the face is not hidden", p)
		}
		m.Close()
	}

	summary := regexp.MustCompile(`anonymize: live .*: (\d+) frames captured, \d+ anonymized, (\d+) in (\d+) segment files.*; (\d+) reconnects;`).FindStringSubmatch(logs())
	if summary == nil {
		t.Fatalf("no summary line; log:\n%s", logs())
	}
	if summary[4] == "0" {
		t.Errorf("summary counts no reconnect: %s", summary[0])
	}
	if summary[3] != strconv.Itoa(len(paths)) {
		t.Errorf("summary says %s segments, %d on disk", summary[3], len(paths))
	}
	if summary[2] != strconv.Itoa(frames) {
		t.Errorf("summary says the segment files hold %s frames; they hold %d", summary[2], frames)
	}
	// Segments are encoded at live.preset (ultrafast: x264 records its
	// settings in the stream, and ultrafast is the preset without CABAC).
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte("cabac=0 ref=1")) {
			t.Errorf("segment %s: not encoded with x264 ultrafast (%v)", p, err)
			break
		}
	}
	t.Logf("%v streamed, cut after %v, back after %v: %d segments, %d frames, %d JPEGs; %s",
		total, cut.Sub(start).Round(time.Millisecond), back.Sub(start).Round(time.Millisecond), len(paths), frames, len(jpegs), summary[0])
}

// TestLiveUsageErrors: what cannot work is an error at once (exit 2), never
// a hang: a camera that is not there, a bad index, a missing file, no
// output folder, flags that do not apply, a preview address that cannot be
// bound.
func TestLiveUsageErrors(t *testing.T) {
	cfg := repoConfig(t)
	out := t.TempDir()
	if _, err := os.Stat("/dev/video99"); err == nil {
		t.Skipf("this machine has a /dev/video99")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--camera", "99", "--out", out}, "camera 99: no such device"},
		{[]string{"--camera", "-1", "--out", out}, "want a device index"},
		{[]string{"--camera", "front", "--out", out}, "want a device index"},
		{[]string{"--camera", "0", "--stream", "rtsp://127.0.0.1:1/x", "--out", out}, "exclusive"},
		{[]string{"--stream", filepath.Join(out, "missing.mp4"), "--out", out}, "missing.mp4"},
		{[]string{"--stream", out, "--out", out}, "a folder"},
		{[]string{"--stream", "rtsp://127.0.0.1:1/x"}, "--out"},
		{[]string{"--stream", "rtsp://127.0.0.1:1/x", "--out", out, "photos"}, "no PATH arguments"},
		{[]string{"--stream", "rtsp://127.0.0.1:1/x", "--out", out, "--watch"}, "--watch"},
		{[]string{"--stream", "rtsp://127.0.0.1:1/x", "--out", out, "--preview", "nonsense"}, "preview address"},
		{[]string{"--stream", "rtsp://127.0.0.1:1/x", "--out", out, "--audit", filepath.Join(out, "a.json")}, "--audit is for images"},
	} {
		start := time.Now()
		code, _, stderr := runCLI(t, append([]string{"--config", cfg}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 saying %q", tc.args, code, stderr, tc.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%v: took %v", tc.args, d)
		}
	}
}

// TestLiveAdoptsModelWithItsOwnStyle: a model folder dropped into the
// models folder during a live run is adopted with its own [detectors]
// table: the mock (which finds a frame of exactly red as one region) hides
// the red frames of a lossless clip in its own green, not in [hide]'s black.
// (The style was looked up once at the start of a live run, so an adopted
// model got [hide]'s.)
func TestLiveAdoptsModelWithItsOwnStyle(t *testing.T) {
	repo, err := config.Load(repoConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	modelsDir := filepath.Join(root, "models")
	copyFaceModel(t, modelsDir)
	clip := filepath.Join(root, "red.mkv") // exactly red: ffv1 keeps it so
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=64x48:r=10:d=12,format=bgr0",
		"-c:v", "ffv1", "-pix_fmt", "bgr0", clip).CombinedOutput(); err != nil {
		t.Fatalf("make the clip: %v: %s", err, out)
	}
	cfg := filepath.Join(root, "config.toml")
	writeFile(t, cfg, fmt.Appendf(nil, `models_dir = %q
model = "yunet-n-dynamic"
[runtime]
library = %q
providers = ["cpu"]
[hide]
style = "solid"
[reload]
watch = true
debounce_ms = 100
adopt_new = true
[detectors.mock]
colour = "#00ff00"
`, modelsDir, repo.Runtime.Library))
	out := filepath.Join(root, "out")
	r := startCLI(t, "--config", cfg, "--stream", clip, "--out", out, "--persist", "0")
	r.stderr.WaitFor(t, "live source opened", 30*time.Second)

	staged := filepath.Join(root, "staging", "mock")
	if err := mock.Write(staged); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(staged, filepath.Join(modelsDir, "mock")); err != nil {
		t.Fatal(err)
	}
	r.stderr.WaitFor(t, `msg="model swapped in" model=mock`, 30*time.Second)
	// The clip plays in real time and ends the run when it ends: its last
	// frames come after the swap.
	select {
	case code := <-r.code:
		r.code <- code
		if code != exitOK {
			t.Fatalf("live run: exit %d:\n%s", code, r.stderr)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("the live run did not end with its clip:\n%s", r.stderr)
	}
	paths, _ := segmentFiles(t, out)
	if len(paths) == 0 {
		t.Fatalf("no segment written:\n%s", r.stderr)
	}
	vc, err := gocv.VideoCaptureFile(paths[len(paths)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	m, last := gocv.NewMat(), gocv.NewMat()
	defer m.Close()
	defer last.Close()
	for vc.Read(&m) && !m.Empty() {
		m.CopyTo(&last)
	}
	if last.Empty() {
		t.Fatal("the segment has no frames")
	}
	px := last.GetVecbAt(last.Rows()/2, last.Cols()/2) // BGR
	if !(px[1] > 200 && px[0] < 60 && px[2] < 60) {
		t.Errorf("last frame after the swap is %v (BGR), want the mock's own green; log:\n%s", px, r.stderr)
	}
}

// TestLiveNeverOpened: a live run stopped before its source ever opened
// anonymized nothing, and its exit code says so (1), not "stopped" (0).
func TestLiveNeverOpened(t *testing.T) {
	cfg := watchConfig(t, t.TempDir(), false)
	port := freePort(t) // nothing listens there
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"anonymize", "--config", cfg, "--stream", fmt.Sprintf("http://127.0.0.1:%d", port), "--out", t.TempDir()}, &out, &errb)
	if code != exitSomeFailed || !strings.Contains(errb.String(), "no frame was captured") {
		t.Errorf("exit %d, want %d saying no frame was captured; stderr:\n%s", code, exitSomeFailed, errb.String())
	}
}
