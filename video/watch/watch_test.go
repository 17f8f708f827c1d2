package watch

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/internal/videotest"
)

// countingDetector finds nothing and counts what it is shown: each call is
// one file read by ProcessOne.
type countingDetector struct {
	calls atomic.Int64
	mu    sync.Mutex
	sizes map[image.Point]int
}

func (d *countingDetector) Detect(m gocv.Mat) ([]convert.Detection, error) {
	dets, _, err := d.DetectInfo(m)
	return dets, err
}

func (d *countingDetector) DetectInfo(m gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	d.calls.Add(1)
	d.mu.Lock()
	if d.sizes == nil {
		d.sizes = map[image.Point]int{}
	}
	d.sizes[image.Pt(m.Cols(), m.Rows())]++
	d.mu.Unlock()
	return nil, d.Info(), nil
}

func (d *countingDetector) Info() convert.ModelInfo { return convert.ModelInfo{Name: "counting"} }
func (d *countingDetector) Close() error            { return nil }

// watchRun is a Watch running in the background.
type watchRun struct {
	t       *testing.T
	w       *watcher
	reports chan batch.ImageResult
	cancel  context.CancelFunc
	done    chan batch.Summary
	sum     *batch.Summary
}

// startWatch starts watching in (outputs to out) and returns once the
// files present have been looked at and the folders are watched.
func startWatch(t *testing.T, det video.Detector, in, out string, settle time.Duration, jobs int) *watchRun {
	t.Helper()
	r := &watchRun{t: t, reports: make(chan batch.ImageResult, 8192), done: make(chan batch.Summary, 1)}
	ready := make(chan struct{})
	w, err := newWatcher(det, []string{in}, out, Options{
		Options: batch.Options{
			JPEGQuality: 90, Jobs: jobs, Log: slog.New(slog.DiscardHandler),
			Video: batch.VideoOptions{Encode: ffmpeg.EncodeOptions{Codec: "libx264", Preset: "ultrafast"}},
		},
		Settle: settle,
		Report: func(res batch.ImageResult) { r.reports <- res },
		Ready:  func() { close(ready) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		sum, err := w.run(ctx)
		if err != nil {
			t.Errorf("watch: %v", err)
		}
		r.done <- sum
	}()
	t.Cleanup(func() { r.stop() })
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the watch did not start within 20 s")
	}
	return r
}

// next waits for the next report.
func (r *watchRun) next(timeout time.Duration) batch.ImageResult {
	r.t.Helper()
	select {
	case res := <-r.reports:
		return res
	case <-time.After(timeout):
		r.t.Fatalf("no file reported within %v", timeout)
		return batch.ImageResult{}
	}
}

// waitDone waits for n reports of files written, failing on any other.
func (r *watchRun) waitDone(n int, timeout time.Duration) []batch.ImageResult {
	r.t.Helper()
	deadline := time.After(timeout)
	var got []batch.ImageResult
	for len(got) < n {
		select {
		case res := <-r.reports:
			if res.Status != batch.StatusDone {
				r.t.Fatalf("%s: status %s (%s), want done", res.Input, res.Status, res.Error)
			}
			got = append(got, res)
		case <-deadline:
			r.t.Fatalf("%d of %d files written within %v", len(got), n, timeout)
		}
	}
	return got
}

// none fails if a report is waiting.
func (r *watchRun) none() {
	r.t.Helper()
	select {
	case res := <-r.reports:
		r.t.Errorf("unexpected report: %s %s", res.Input, res.Status)
	default:
	}
}

// stop ends the watch and returns its summary.
func (r *watchRun) stop() batch.Summary {
	if r.sum == nil {
		r.cancel()
		sum := <-r.done
		r.sum = &sum
	}
	return *r.sum
}

// pngBytes encodes a w x h PNG whose pixel (0, 0) encodes id and whose
// other pixels are noise from seed (incompressible, so the file is big).
func pngBytes(t testing.TB, w, h int, id int, seed uint64) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Uint32())
	}
	img.SetNRGBA(0, 0, color.NRGBA{uint8(id), uint8(id >> 8), 77, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readPNG decodes an output PNG (with Go's decoder: no Mats).
func readPNG(t testing.TB, path string) image.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func idOf(img image.Image) int {
	r, g, b, _ := img.At(0, 0).RGBA()
	if b>>8 != 77 {
		return -1
	}
	return int(r>>8) | int(g>>8)<<8
}

// listFiles lists every file under root, relative.
func listFiles(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() != SourcesFile { // the outputs, not the watch's record
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestWatchThousandFiles copies 1,000 small images into a watched folder,
// half of them into subfolders made on the way, once as fast as several
// goroutines can and once in batches with pauses: every one must come out
// exactly once, complete (each output decodes to the full size and carries
// its own input's marker pixel).
func TestWatchThousandFiles(t *testing.T) {
	const n = 1000
	files := make([][]byte, n)
	for i := range files {
		files[i] = pngBytes(t, 16, 16, i, uint64(i))
	}
	name := func(i int) string {
		if i%2 == 0 {
			return filepath.Join(fmt.Sprintf("d%d", i%10), fmt.Sprintf("img%04d.png", i))
		}
		return fmt.Sprintf("img%04d.png", i)
	}
	write := func(t *testing.T, in string, i int) {
		p := filepath.Join(in, name(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Error(err)
			return
		}
		if err := os.WriteFile(p, files[i], 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, tt := range []struct {
		name string
		copy func(t *testing.T, in string)
	}{
		{"quickly", func(t *testing.T, in string) {
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < n; i += 8 {
						write(t, in, i)
					}
				}()
			}
			wg.Wait()
		}},
		{"slowly", func(t *testing.T, in string) {
			for i := range n {
				write(t, in, i)
				if i%50 == 49 {
					time.Sleep(15 * time.Millisecond) // the copier pauses between batches
				}
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
			os.Mkdir(in, 0o755)
			det := &countingDetector{}
			run := startWatch(t, det, in, out, 150*time.Millisecond, 2)
			start := time.Now()
			tt.copy(t, in)
			copied := time.Since(start)
			got := run.waitDone(n, 60*time.Second)
			elapsed := time.Since(start)
			sum := run.stop()
			t.Logf("%d files copied in %v; all written %v after the first was copied", n, copied.Round(time.Millisecond), elapsed.Round(time.Millisecond))

			seen := map[string]bool{}
			for _, r := range got {
				if seen[r.Input] {
					t.Errorf("%s reported twice", r.Input)
				}
				seen[r.Input] = true
			}
			if c := det.calls.Load(); c != n {
				t.Errorf("the detector ran %d times, want %d (once per file)", c, n)
			}
			if s := det.sizes; len(s) != 1 || s[image.Pt(16, 16)] != n {
				t.Errorf("images read, by size: %v; want all %d at 16x16", s, n)
			}
			if sum.Done != n || sum.Failed != 0 || sum.Skipped != 0 {
				t.Errorf("summary %+v, want %d done", sum, n)
			}
			outs := listFiles(t, out)
			if len(outs) != n {
				t.Fatalf("%d files in the output folder, want %d", len(outs), n)
			}
			for i := range n {
				img := readPNG(t, filepath.Join(out, name(i)))
				if b := img.Bounds(); b.Dx() != 16 || b.Dy() != 16 || idOf(img) != i {
					t.Fatalf("%s: %dx%d with marker %d, want 16x16 with %d", name(i), b.Dx(), b.Dy(), idOf(img), i)
				}
			}
		})
	}
}

// TestWatchRestart: a watch started again over the same folders redoes
// nothing finished; only a file changed since (or new) is done.
func TestWatchRestart(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	const n = 20
	for i := range n {
		p := filepath.Join(in, fmt.Sprintf("s%d", i%3), fmt.Sprintf("%02d.png", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, pngBytes(t, 8, 8, i, 1), 0o644)
	}
	det := &countingDetector{}
	run := startWatch(t, det, in, out, 20*time.Millisecond, 2)
	run.waitDone(n, 20*time.Second)
	run.stop()
	mtimes := func() map[string]time.Time {
		m := map[string]time.Time{}
		for _, rel := range listFiles(t, out) {
			st, err := os.Stat(filepath.Join(out, rel))
			if err != nil {
				t.Fatal(err)
			}
			m[rel] = st.ModTime()
		}
		return m
	}
	before := mtimes()

	// Restarted: everything is up to date.
	det2 := &countingDetector{}
	run = startWatch(t, det2, in, out, 20*time.Millisecond, 2)
	sum := run.stop()
	if det2.calls.Load() != 0 || sum.Skipped != n || sum.Done != 0 {
		t.Errorf("restart: detector ran %d times, summary %+v; want nothing redone, %d skipped", det2.calls.Load(), sum, n)
	}
	if after := mtimes(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("outputs were rewritten on restart")
	}

	// Touched only while stopped (newer, same content): not redone; the
	// record of what each output was made from says so.
	if _, err := os.Stat(filepath.Join(out, SourcesFile)); err != nil {
		t.Errorf("no record of what the outputs were made from: %v", err)
	}
	touched := filepath.Join(in, "s1", "01.png")
	soon := time.Now().Add(time.Second)
	os.Chtimes(touched, soon, soon)
	det2b := &countingDetector{}
	run = startWatch(t, det2b, in, out, 20*time.Millisecond, 2)
	if sum := run.stop(); det2b.calls.Load() != 0 || sum.Skipped != n {
		t.Errorf("after a touch: detector ran %d times, summary %+v; want nothing redone", det2b.calls.Load(), sum)
	}

	// Changed while stopped (and one new): those two are done.
	changed := filepath.Join(in, "s0", "00.png")
	os.WriteFile(changed, pngBytes(t, 8, 8, 100, 2), 0o644)
	later := time.Now().Add(2 * time.Second) // surely newer than its output
	os.Chtimes(changed, later, later)
	os.WriteFile(filepath.Join(in, "new.png"), pngBytes(t, 8, 8, 101, 2), 0o644)
	det3 := &countingDetector{}
	run = startWatch(t, det3, in, out, 20*time.Millisecond, 2)
	var redone []string
	for len(redone) < 2 {
		if r := run.next(20 * time.Second); r.Status == batch.StatusDone {
			redone = append(redone, r.Input)
		} else if r.Status != batch.StatusSkipped {
			t.Fatalf("%s: %s %s", r.Input, r.Status, r.Error)
		}
	}
	sum = run.stop()
	sort.Strings(redone)
	if want := []string{filepath.Join(in, "new.png"), changed}; fmt.Sprint(redone) != fmt.Sprint(want) {
		t.Errorf("redone %q, want %q", redone, want)
	}
	if det3.calls.Load() != 2 || sum.Done != 2 || sum.Skipped != n-1 {
		t.Errorf("detector ran %d times, summary %+v; want 2 done, %d skipped", det3.calls.Load(), sum, n-1)
	}
	if got := idOf(readPNG(t, filepath.Join(out, "s0", "00.png"))); got != 100 {
		t.Errorf("the changed file's output has marker %d, want 100", got)
	}
}

// gatedDetector blocks its first call until gate is closed.
type gatedDetector struct {
	*countingDetector
	started, gate chan struct{}
	once          sync.Once
}

func (d *gatedDetector) DetectInfo(m gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	d.once.Do(func() { close(d.started); <-d.gate })
	return d.countingDetector.DetectInfo(m)
}

// TestWatchVideo: a video moved into a watched folder is anonymized whole;
// one in progress when the watch ends is stopped, writes nothing, counts
// as no failure, and is done at the next start.
func TestWatchVideo(t *testing.T) {
	videotest.NeedFFmpeg(t)
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	os.Mkdir(in, 0o755)
	clip := videotest.MakeClip(t, root, videotest.ClipSpec{Name: "clip.mp4", W: 160, H: 120, Seconds: 1, Rate: "10", VideoCodec: videotest.X264})

	det := &gatedDetector{countingDetector: &countingDetector{}, started: make(chan struct{}), gate: make(chan struct{})}
	run := startWatch(t, det, in, out, 50*time.Millisecond, 1)
	if err := os.Rename(clip, filepath.Join(in, "clip.mp4")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-det.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the video was not started within 20 s")
	}
	run.cancel() // stopped while its first frame is being looked at
	close(det.gate)
	if sum := run.stop(); sum.Done != 0 || sum.Problems() != 0 {
		t.Errorf("stopped during the video: summary %+v, want nothing done and no failure", sum)
	}
	run.none()
	if got := listFiles(t, out); len(got) != 0 {
		t.Errorf("left in the output folder: %q", got)
	}

	run = startWatch(t, &countingDetector{}, in, out, 50*time.Millisecond, 1)
	r := run.waitDone(1, 60*time.Second)[0]
	if r.Kind != batch.KindVideo || r.Video == nil || r.Video.Frames != 10 || r.Output != filepath.Join(out, "clip.mp4") {
		t.Errorf("video record %+v (video %+v), want 10 frames to out/clip.mp4", r, r.Video)
	}
	if sum := run.stop(); sum.Done != 1 || sum.Videos != 1 || sum.Frames != 10 {
		t.Errorf("summary %+v", sum)
	}
	if p := videotest.FFprobeFile(t, filepath.Join(out, "clip.mp4")); len(p.Streams) != 1 || p.Streams[0].NbReadFrames != "10" {
		t.Errorf("output streams %+v, want one with 10 frames", p.Streams)
	}
}
