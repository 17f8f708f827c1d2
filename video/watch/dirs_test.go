package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/anonymize/anonymize/video/batch"
)

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
