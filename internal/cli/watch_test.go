package cli

import (
	"bytes"
	"context"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/anonymize/anonymize/internal/testenv"
)

// cliRun is the command running in the background until stopped.
type cliRun struct {
	stderr *testenv.LogBuffer
	cancel context.CancelFunc
	code   chan int
	reload chan struct{} // a request here is what SIGHUP is to main
}

func startCLI(t *testing.T, args ...string) *cliRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &cliRun{stderr: new(testenv.LogBuffer), cancel: cancel, code: make(chan int, 1), reload: make(chan struct{}, 1)}
	go func() {
		var stdout bytes.Buffer
		r.code <- Run(ctx, Env{Args: append([]string{"anonymize"}, args...), Stdout: &stdout, Stderr: r.stderr, Reload: r.reload})
	}()
	t.Cleanup(func() { cancel(); <-r.code; r.code <- -1 })
	return r
}

// stop cancels the command (as SIGINT or SIGTERM would) and returns its
// exit code.
func (r *cliRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.code:
		r.code <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("the watch did not stop within 30 s of being cancelled")
		return -1
	}
}

// waitFile waits for path to exist, watching its folder (which must exist).
func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-w.Events:
		case err := <-w.Errors:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("%s was not written within %v", path, timeout)
		}
	}
}

// watchConfig writes a config for watch tests: the repository's runtime
// library and face model, models_dir, a short settle time and reload
// settings as given, and top-level lines given (before any table).
func watchConfig(t *testing.T, modelsDir string, reloadWatch bool, topLines ...string) string {
	t.Helper()
	return testConfig(t, modelsDir, testenv.Model(t, "yunet-n-dynamic"), reloadWatch, strings.Join(topLines, "\n"), "[watch]\nsettle_ms = 100")
}

// TestWatchCLI runs `anonymize --watch` on real photos with the real face
// model: one there at start, one dropped in while it runs. Both come out
// with every face solid black and nothing else changed; stopping it exits
// 0 with a summary, and starting it again redoes nothing.
func TestWatchCLI(t *testing.T) {
	cfg := watchConfig(t, t.TempDir(), false)
	root := t.TempDir()
	in, out, audit := filepath.Join(root, "in"), filepath.Join(root, "out"), filepath.Join(root, "audit.json")
	os.MkdirAll(out, 0o755)
	astro, group := filepath.Join(in, "astronaut.png"), filepath.Join(in, "group_uf2.jpg")
	copyFile(t, shared(t, "astronaut.png"), astro)
	args := []string{"--config", cfg, "--watch", in, "--out", out, "--style", "solid", "--format", "png", "--audit", audit}

	r := startCLI(t, args...)
	waitFile(t, filepath.Join(out, "astronaut.png"), 30*time.Second)
	copyFile(t, shared(t, "group_uf2.jpg"), group) // arrives while watched
	waitFile(t, filepath.Join(out, "group_uf2.png"), 30*time.Second)
	if code := r.stop(t); code != exitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, r.stderr)
	}
	stderr := r.stderr.String()
	if !strings.Contains(stderr, "watch stopped: 2 written, 0 skipped (up to date), 0 failed") {
		t.Errorf("no summary of 2 written:\n%s", stderr)
	}
	for _, f := range []string{astro, group} {
		if l := stderrLines(stderr, f); len(l) != 1 || !strings.Contains(l[0], "msg=anonymized") || !strings.Contains(l[0], "model=yunet-n-dynamic") {
			t.Errorf("want one line for %s naming the model:\n%s", f, stderr)
		}
	}
	a := readAudit(t, audit)
	for _, f := range []string{astro, group} {
		im := a.image(t, f)
		if im.Status != "done" || len(im.Detections) == 0 {
			t.Fatalf("%s: status %s with %d detections, want faces found", f, im.Status, len(im.Detections))
		}
		var boxes [][4]float64
		for _, d := range im.Detections {
			boxes = append(boxes, [4]float64{d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2})
		}
		checkHidden(t, decode(t, f), decode(t, im.Output), boxes, 1.3)
	}

	// Started again: both outputs are up to date.
	r = startCLI(t, args...)
	r.stderr.WaitFor(t, "msg=watching", 30*time.Second)
	if code := r.stop(t); code != exitOK {
		t.Fatalf("restart: exit %d; stderr:\n%s", code, r.stderr)
	}
	if s := r.stderr.String(); !strings.Contains(s, "0 written, 2 skipped (up to date), 0 failed") || strings.Contains(s, "msg=anonymized") {
		t.Errorf("restart redid work:\n%s", s)
	}
}

// TestWatchHotReload drops a new model folder (the mock, which hides pure
// red) into models_dir while a watch runs: it is adopted beside the face
// model, and the next image is anonymized by it. Once through the folder
// watch (reload.watch), once through SIGHUP.
func TestWatchHotReload(t *testing.T) {
	for _, viaSignal := range []bool{false, true} {
		name := "folder watch"
		if viaSignal {
			name = "SIGHUP"
		}
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			modelsDir := filepath.Join(root, "models")
			os.MkdirAll(modelsDir, 0o755)
			cfg := watchConfig(t, modelsDir, !viaSignal)
			in, out, audit := filepath.Join(root, "in"), filepath.Join(root, "out"), filepath.Join(root, "audit.json")
			os.MkdirAll(out, 0o755)
			red := func(x, y int) color.NRGBA { return color.NRGBA{255, 0, 0, 255} }
			writePNG(t, filepath.Join(in, "before.png"), 40, 30, red)

			r := startCLI(t, "--config", cfg, "--watch", in, "--out", out, "--style", "solid", "--shape", "box", "--audit", audit)
			waitFile(t, filepath.Join(out, "before.png"), 30*time.Second)

			// The mock, made aside and moved in whole.
			staged := filepath.Join(root, "staging", "mock")
			if code, _, stderr := runCLI(t, "models", "mock", "--out", staged); code != exitOK {
				t.Fatalf("models mock: exit %d: %s", code, stderr)
			}
			if err := os.Rename(staged, filepath.Join(modelsDir, "mock")); err != nil {
				t.Fatal(err)
			}
			if viaSignal {
				r.reload <- struct{}{}
				r.stderr.WaitFor(t, "reload requested (SIGHUP)", 30*time.Second)
			}
			r.stderr.WaitFor(t, "msg=\"new model folder\"", 30*time.Second)
			r.stderr.WaitFor(t, "msg=\"model swapped in\" model=mock", 30*time.Second)

			writePNG(t, filepath.Join(in, "after.png"), 40, 30, red)
			waitFile(t, filepath.Join(out, "after.png"), 30*time.Second)
			if code := r.stop(t); code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, r.stderr)
			}
			p := decode(t, filepath.Join(out, "after.png"))
			for i := 0; i < len(p.bgr); i += 3 {
				if px := [3]byte(p.bgr[i : i+3]); px != black {
					t.Fatalf("after.png: pixel (%d, %d) is %v: the mock, which hides red, did not run", i/3%p.w, i/3/p.w, px)
				}
			}
			if p := decode(t, filepath.Join(out, "before.png")); p.at(20, 15) == black {
				t.Errorf("before.png was hidden: it was done before the mock came")
			}
			a := readAudit(t, audit)
			if m := a.image(t, filepath.Join(in, "after.png")).Model; !strings.Contains(m, "mock@") {
				t.Errorf("audit: after.png done by %q, want the mock among the models", m)
			}
			if m := a.image(t, filepath.Join(in, "before.png")).Model; m == "" || strings.Contains(m, "mock") {
				t.Errorf("audit: before.png done by %q, want the face model alone", m)
			}
			if !slices.ContainsFunc(a.Models, func(m auditModel) bool { return m.Name == "mock" }) {
				t.Errorf("audit models %+v, want the mock adopted during the watch listed", a.Models)
			}
			if l := stderrLines(r.stderr.String(), filepath.Join(in, "after.png")); len(l) != 1 || !strings.Contains(l[0], "model=yunet-n-dynamic+mock") {
				t.Errorf("the log line for after.png does not name both models: %q", l)
			}
		})
	}
}
