package watch

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/fsnotify/fsnotify"
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
		if !d.IsDir() {
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

// TestWatchSlowWriter writes an image in twelve chunks with pauses well
// under the settle time (together longer): it must be read once, complete.
func TestWatchSlowWriter(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	os.Mkdir(in, 0o755)
	data := pngBytes(t, 300, 200, 5, 42)
	det := &countingDetector{}
	const settle = 500 * time.Millisecond
	run := startWatch(t, det, in, out, settle, 2)

	f, err := os.Create(filepath.Join(in, "slow.png"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	chunk := len(data)/12 + 1
	for off := 0; off < len(data); off += chunk {
		if off > 0 {
			time.Sleep(settle / 8) // the writer is slow, but pauses less than settle
		}
		if _, err := f.Write(data[off:min(off+chunk, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < settle {
		t.Fatalf("writing took %v, under the settle time %v: the test proves nothing", d, settle)
	}
	r := run.waitDone(1, 20*time.Second)[0]
	if r.Width != 300 || r.Height != 200 {
		t.Errorf("read %dx%d, want 300x200", r.Width, r.Height)
	}
	img := readPNG(t, filepath.Join(out, "slow.png"))
	if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 200 || idOf(img) != 5 {
		t.Errorf("output %v, marker %d; want 300x200, marker 5", b, idOf(img))
	}
	if sum := run.stop(); det.calls.Load() != 1 || sum.Done != 1 || sum.Failed != 0 {
		t.Errorf("detector ran %d times, summary %+v; want one complete read", det.calls.Load(), sum)
	}
	run.none()
}

// TestWatchIgnores: hidden files and folders, names of files still
// arriving, empty files and the output folder inside the input are never
// read.
func TestWatchIgnores(t *testing.T) {
	in := t.TempDir()
	out := filepath.Join(in, "anonymized") // inside the input
	img := pngBytes(t, 8, 8, 1, 1)
	put := func(rel string) {
		t.Helper()
		p := filepath.Join(in, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("a.png")
	put(".early.png")
	put(".git/x.png")
	det := &countingDetector{}
	run := startWatch(t, det, in, out, 50*time.Millisecond, 1)
	if r := run.waitDone(1, 20*time.Second)[0]; r.Input != filepath.Join(in, "a.png") {
		t.Fatalf("first file %s, want a.png", r.Input)
	}
	for _, rel := range []string{".late.png", "b.png.part", "b.png.tmp", "c.png~", "d.png.crdownload", ".cache/e.png", "anonymized/f.png"} {
		put(rel)
	}
	os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not an image"), 0o644)
	os.WriteFile(filepath.Join(in, "empty.png"), nil, 0o644) // created, not yet written
	// A file arriving after them: with one worker taking files in order of
	// arrival, any of them taken would be reported first.
	put("z.png")
	if r := run.waitDone(1, 20*time.Second)[0]; r.Input != filepath.Join(in, "z.png") {
		t.Fatalf("second file %s, want z.png", r.Input)
	}
	sum := run.stop()
	run.none()
	if got := det.calls.Load(); got != 2 {
		t.Errorf("detector ran %d times, want 2", got)
	}
	want := []string{"a.png", "f.png", "z.png"} // f.png: put there by the test, not by the watch
	if got := listFiles(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("output folder holds %q, want %q", got, want)
	}
	if sum.Done != 2 || sum.NotProcessed != 1 {
		t.Errorf("summary %+v, want 2 done and 1 other file (notes.txt)", sum)
	}
}

// TestWatchNewSubfolders: files written into folders made a moment before
// (at several depths at once) and a folder moved in whole are all found.
func TestWatchNewSubfolders(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	os.Mkdir(in, 0o755)
	det := &countingDetector{}
	run := startWatch(t, det, in, out, 50*time.Millisecond, 2)
	var want []string
	deep := filepath.Join(in, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, d := range []string{"a", "a/b", "a/b/c"} {
		rel := filepath.Join(d, fmt.Sprintf("p%d.png", i))
		os.WriteFile(filepath.Join(in, rel), pngBytes(t, 8, 8, i, 1), 0o644)
		want = append(want, rel)
	}
	// A folder tree made elsewhere and moved in.
	staged := filepath.Join(root, "staged")
	os.MkdirAll(filepath.Join(staged, "x"), 0o755)
	os.WriteFile(filepath.Join(staged, "m.png"), pngBytes(t, 8, 8, 10, 1), 0o644)
	os.WriteFile(filepath.Join(staged, "x", "n.png"), pngBytes(t, 8, 8, 11, 1), 0o644)
	if err := os.Rename(staged, filepath.Join(in, "moved")); err != nil {
		t.Fatal(err)
	}
	want = append(want, filepath.Join("moved", "m.png"), filepath.Join("moved", "x", "n.png"))
	run.waitDone(len(want), 20*time.Second)
	run.stop()
	sort.Strings(want)
	if got := listFiles(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outputs %q, want %q", got, want)
	}
}

// TestWatchReplaced: a file replaced (renamed over, or rewritten in place)
// is done again; one touched with the same content is not; one that failed
// is not retried until its content changes.
func TestWatchReplaced(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	os.Mkdir(in, 0o755)
	det := &countingDetector{}
	run := startWatch(t, det, in, out, 50*time.Millisecond, 1)
	a, aOut := filepath.Join(in, "a.png"), filepath.Join(out, "a.png")
	check := func(id int) {
		t.Helper()
		if r := run.waitDone(1, 20*time.Second)[0]; r.Input != a {
			t.Fatalf("reported %s, want %s", r.Input, a)
		}
		if got := idOf(readPNG(t, aOut)); got != id {
			t.Fatalf("output marker %d, want %d", got, id)
		}
	}
	os.WriteFile(a, pngBytes(t, 8, 8, 1, 1), 0o644)
	check(1)
	// Replaced as editors do: written beside, renamed over.
	tmp := filepath.Join(in, ".a.png.swp")
	os.WriteFile(tmp, pngBytes(t, 8, 8, 2, 1), 0o644)
	if err := os.Rename(tmp, a); err != nil {
		t.Fatal(err)
	}
	check(2)
	// Rewritten in place.
	os.WriteFile(a, pngBytes(t, 8, 8, 3, 1), 0o644)
	check(3)

	// Touched, same content: not done again. A failing file: failed once,
	// then, touched, not retried.
	bad := filepath.Join(in, "bad.png")
	os.WriteFile(bad, []byte("not a png"), 0o644)
	if r := run.next(20 * time.Second); r.Input != bad || r.Status != batch.StatusFailed {
		t.Fatalf("reported %s %s, want %s failed", r.Input, r.Status, bad)
	}
	later := time.Now().Add(time.Second)
	os.Chtimes(a, later, later)
	os.Chtimes(bad, later, later)
	z := filepath.Join(in, "z.png")
	os.WriteFile(z, pngBytes(t, 8, 8, 9, 1), 0o644)
	if r := run.waitDone(1, 20*time.Second)[0]; r.Input != z {
		t.Fatalf("reported %s, want %s (a.png and bad.png are unchanged)", r.Input, z)
	}
	// The failing file mended: done.
	os.WriteFile(bad, pngBytes(t, 8, 8, 4, 1), 0o644)
	if r := run.waitDone(1, 20*time.Second)[0]; r.Input != bad {
		t.Fatalf("reported %s, want %s", r.Input, bad)
	}
	sum := run.stop()
	run.none()
	if got := det.calls.Load(); got != 5 {
		t.Errorf("detector ran %d times, want 5 (a three times, z, bad once mended)", got)
	}
	if sum.Done != 3 || sum.Failed != 0 {
		t.Errorf("summary %+v: want 3 done (the last outcome of each file), none failed", sum)
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

// TestWatchOverflowRescan: when the system says events were lost, the
// folders are walked again and the files whose events were lost are done.
func TestWatchOverflowRescan(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	os.Mkdir(in, 0o755)
	os.WriteFile(filepath.Join(in, "before.png"), pngBytes(t, 8, 8, 0, 1), 0o644)
	det := &countingDetector{}
	run := startWatch(t, det, in, out, 20*time.Millisecond, 2)
	run.waitDone(1, 20*time.Second)
	// Files that arrive unseen: the folder's watch is taken away first.
	if err := run.w.fsw.Remove(in); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		os.WriteFile(filepath.Join(in, fmt.Sprintf("unseen%d.png", i)), pngBytes(t, 8, 8, i, 1), 0o644)
	}
	run.w.fsw.Errors <- fsnotify.ErrEventOverflow
	run.waitDone(5, 20*time.Second)
	if sum := run.stop(); sum.Done != 6 || det.calls.Load() != 6 {
		t.Errorf("summary %+v, detector ran %d times; want 6 done once each", sum, det.calls.Load())
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

func TestWatchRefuses(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "f.png")
	os.WriteFile(file, pngBytes(t, 8, 8, 0, 1), 0o644)
	os.MkdirAll(filepath.Join(root, "a", "b"), 0o755)
	for _, tt := range []struct {
		name   string
		inputs []string
		out    string
	}{
		{"file", []string{file}, ""},
		{"missing", []string{filepath.Join(root, "nope")}, ""},
		{"output is input", []string{root}, root},
		{"overlapping", []string{filepath.Join(root, "a"), filepath.Join(root, "a", "b")}, filepath.Join(root, "o")},
	} {
		_, err := Run(context.Background(), &countingDetector{}, tt.inputs, tt.out, Options{})
		if err == nil || !isUsage(err) {
			t.Errorf("%s: err %v, want a usage error", tt.name, err)
		}
	}
}

func isUsage(err error) bool { return errors.Is(err, batch.ErrUsage) }

func TestUpToDate(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.png")
	os.WriteFile(in, []byte("x"), 0o644)
	if UpToDate(in, out) {
		t.Error("up to date without an output")
	}
	os.WriteFile(out, []byte("y"), 0o644)
	t0 := time.Now()
	for _, tt := range []struct {
		in, out time.Time
		want    bool
	}{
		{t0, t0.Add(time.Second), true},
		{t0, t0, true},
		{t0.Add(time.Second), t0, false},
	} {
		os.Chtimes(in, tt.in, tt.in)
		os.Chtimes(out, tt.out, tt.out)
		if got := UpToDate(in, out); got != tt.want {
			t.Errorf("input at %v, output at %v: UpToDate %v, want %v", tt.in.Sub(t0), tt.out.Sub(t0), got, tt.want)
		}
	}
	os.Remove(in)
	if UpToDate(in, out) {
		t.Error("up to date without an input")
	}
}

func TestIgnoredName(t *testing.T) {
	for name, want := range map[string]bool{
		"photo.jpg": false, "clip.mp4": false, "a.b.png": false,
		".photo.jpg": true, ".photo.jpg.tmp-123": true, "photo.jpg~": true, "photo.jpg.part": true,
		"photo.jpg.crdownload": true, "photo.tmp": true, "photo.JPG.PART": true,
	} {
		if got := ignoredName(name); got != want {
			t.Errorf("ignoredName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestWatchRemovesStaleTemps: at start, a watch removes the temporary file
// a killed run left beside an output (our own name, long unmodified),
// and leaves a fresh one and a user's file alone.
func TestWatchRemovesStaleTemps(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(filepath.Join(out, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(in, "sub"), 0o755)
	os.WriteFile(filepath.Join(in, "sub", "a.png"), pngBytes(t, 32, 24, 1, 1), 0o644)
	old := time.Now().Add(-2 * batch.StaleTempAge)
	stale, fresh, user := filepath.Join(out, "sub", ".a.png.tmp-42"), filepath.Join(out, "sub", ".b.png.tmp-43"), filepath.Join(out, "sub", ".notes.tmp-1")
	for _, p := range []string{stale, fresh, user} {
		os.WriteFile(p, []byte("x"), 0o644)
		if p != fresh {
			os.Chtimes(p, old, old)
		}
	}
	r := startWatch(t, &countingDetector{}, in, out, 0, 1)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale temporary file is still there (%v)", err)
	}
	for _, p := range []string{fresh, user} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
	r.waitDone(1, 20*time.Second)
}

// TestWatchRenamedSubfolder: a watched subfolder renamed within the watched
// folder goes on being watched under its new name (a file copied into it,
// or into a folder below it, later is done), and its old name is no longer
// watched.
func TestWatchRenamedSubfolder(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	os.MkdirAll(filepath.Join(in, "old", "deep"), 0o755)
	os.WriteFile(filepath.Join(in, "old", "first.png"), pngBytes(t, 8, 8, 1, 1), 0o644)
	run := startWatch(t, &countingDetector{}, in, out, 50*time.Millisecond, 1)
	run.waitDone(1, 20*time.Second)

	if err := os.Rename(filepath.Join(in, "old"), filepath.Join(in, "new")); err != nil {
		t.Fatal(err)
	}
	// The renamed folder's files are done under their new names, and files
	// arriving later in it (and below it) are done too.
	os.WriteFile(filepath.Join(in, "new", "later.png"), pngBytes(t, 8, 8, 2, 1), 0o644)
	os.WriteFile(filepath.Join(in, "new", "deep", "deeper.png"), pngBytes(t, 8, 8, 3, 1), 0o644)
	want := map[string]bool{
		filepath.Join(in, "new", "first.png"): true, filepath.Join(in, "new", "later.png"): true,
		filepath.Join(in, "new", "deep", "deeper.png"): true,
	}
	for _, r := range run.waitDone(len(want), 20*time.Second) {
		if !want[r.Input] {
			t.Errorf("done %s, want only %v", r.Input, want)
		}
	}
	// The old name, made again, is a new folder: watched afresh.
	os.MkdirAll(filepath.Join(in, "old"), 0o755)
	os.WriteFile(filepath.Join(in, "old", "again.png"), pngBytes(t, 8, 8, 4, 1), 0o644)
	if r := run.waitDone(1, 20*time.Second); r[0].Input != filepath.Join(in, "old", "again.png") {
		t.Errorf("done %s, want old/again.png", r[0].Input)
	}
	if _, err := os.Stat(filepath.Join(out, "new", "deep", "deeper.png")); err != nil {
		t.Errorf("output of new/deep/deeper.png: %v", err)
	}
	for _, d := range run.w.fsw.WatchList() {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("a folder that is gone is still watched: %s", d)
		}
	}
}
