package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anonymize/anonymize/video/batch"
)

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
