package infer_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
)

// installAs installs catalogue model name from its ONNX file into
// modelsDir/folder, with the manifest's version set to version.
func installAs(t *testing.T, modelsDir, folder, name, version string) {
	t.Helper()
	cat, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := cat.Find(name)
	if !ok {
		t.Fatalf("no catalogue entry %s", name)
	}
	src := filepath.Join(modelDir(t, name), models.ModelFile)
	e.Name, e.Version = folder, version
	if _, err := models.Install(e, src, modelsDir); err != nil {
		t.Fatal(err)
	}
}

// TestHotSwapUnderLoad swaps the model of a running Set 20 times through the
// folder watcher (alternating two real models, one broken model among them)
// while two goroutines run detections without pause. No call may fail or miss
// a face, the broken model must be refused with the previous one kept, and
// every call that starts after a swap is reported must be served by the new
// model.
func TestHotSwapUnderLoad(t *testing.T) {
	rt := newRuntime(t)
	dir := t.TempDir()
	installAs(t, dir, "faces", "yunet-n-dynamic", "0")
	faces := filepath.Join(dir, "faces")
	set, err := rt.NewSet([]infer.Spec{{Dir: faces}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	events := set.Subscribe()
	r := &infer.Reloader{Set: set, ModelsDir: dir, Debounce: 50 * time.Millisecond,
		Specs: func() ([]infer.Spec, error) { return []infer.Spec{{Dir: faces}}, nil },
		Log:   slog.New(slog.DiscardHandler)}
	r.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Run(ctx, nil) }()

	img := readPhoto(t, "faces/group_uf2.jpg") // closed at cleanup

	// minVersion is the version every call starting now must at least see.
	var minVersion atomic.Int64
	var calls, failures atomic.Int64
	stop := make(chan struct{})
	var errMu sync.Mutex
	var errs []string
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				want := minVersion.Load()
				dets, info, err := set.DetectInfo(img)
				calls.Add(1)
				v, _ := strconv.ParseInt(info.Version, 10, 64)
				var msg string
				switch {
				case err != nil:
					msg = fmt.Sprintf("detect failed during swaps: %v", err)
				case len(dets) != 4:
					msg = fmt.Sprintf("model %s v%s found %d faces, want 4", info.Adapter, info.Version, len(dets))
				case v < want:
					msg = fmt.Sprintf("call started after swap to v%d was served by v%d", want, v)
				}
				if msg != "" {
					failures.Add(1)
					errMu.Lock()
					errs = append(errs, msg)
					errMu.Unlock()
				}
			}
		}()
	}

	const swaps = 20
	const broken = 11
	good := int64(0)
	for k := 1; k <= swaps; k++ {
		before := calls.Load()
		// Let detections run on the current model before changing it.
		for calls.Load() < before+3 {
			time.Sleep(time.Millisecond)
		}
		if k == broken {
			// A model folder whose ONNX file is corrupt: refused, old kept.
			e := filepath.Join(t.TempDir(), "faces")
			os.MkdirAll(e, 0o755)
			os.WriteFile(filepath.Join(e, models.ModelFile), []byte("not an onnx model"), 0o644)
			man, _ := os.ReadFile(filepath.Join(faces, models.ManifestFile))
			os.WriteFile(filepath.Join(e, models.ManifestFile), append(man, []byte("\n# broken\n")...), 0o644)
			tmp := filepath.Join(dir, ".incoming")
			os.Rename(e, tmp)
			os.RemoveAll(faces + ".old")
			os.Rename(faces, faces+".old")
			os.Rename(tmp, faces)
		} else {
			name := "yunet-n-dynamic"
			if k%2 == 1 {
				name = "blazeface-back-256"
			}
			installAs(t, dir, "faces", name, strconv.Itoa(k))
		}
		ev := waitEvent(t, events, k)
		if k == broken {
			if ev.Err == nil {
				t.Fatalf("swap %d: broken model accepted: %+v", k, ev)
			}
			if got := set.Info().Version; got != strconv.FormatInt(good, 10) {
				t.Fatalf("after the broken model, version %s serves, want the previous %d", got, good)
			}
			continue
		}
		if !ev.Swapped || ev.Info.Version != strconv.Itoa(k) {
			t.Fatalf("swap %d: event %+v", k, ev)
		}
		good = int64(k)
		minVersion.Store(good)
	}
	close(stop)
	cancel()
	wg.Wait()
	for i, e := range errs {
		if i < 5 {
			t.Error(e)
		}
	}
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d calls went wrong", n, calls.Load())
	}
	if got := set.Swaps(); got != swaps-1 {
		t.Errorf("%d swaps counted, want %d", got, swaps-1)
	}
	t.Logf("%d detections across %d swaps", calls.Load(), swaps)
}

// waitEvent returns the next event about swap k: a model swapped in or a
// load that failed.
func waitEvent(t *testing.T, events <-chan infer.Event, k int) infer.Event {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("events closed")
			}
			if ev.Err != nil || (ev.Swapped && ev.Info.Version == strconv.Itoa(k)) {
				return ev
			}
		case <-deadline:
			t.Fatalf("swap %d: no event within 60 s", k)
		}
	}
}

// TestSetRefusesPartialStart: a set whose second model cannot load does not
// start with the first alone.
func TestSetRefusesPartialStart(t *testing.T) {
	rt := newRuntime(t)
	bad := makeModelDir(t, []byte("garbage"), manifest("yunet", `name = "input"`+"\nmultiple = 32", ""))
	_, err := rt.NewSet([]infer.Spec{{Dir: modelDir(t, "yunet-n-dynamic")}, {Dir: bad}})
	if err == nil {
		t.Fatal("set started without one of its models")
	}
	if _, err := rt.NewSet(nil); err == nil {
		t.Error("empty set started")
	}
}

// TestSetMergesModels: two models run as one; a face both find is one
// region enclosing both boxes, named after one of them.
func TestSetMergesModels(t *testing.T) {
	rt := newRuntime(t)
	dirs := []string{modelDir(t, "yunet-n-dynamic"), modelDir(t, "blazeface-back-256")}
	set, err := rt.NewSet([]infer.Spec{{Dir: dirs[0]}, {Dir: dirs[1]}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	img := readPhoto(t, "faces/group_uf2.jpg") // closed at cleanup
	dets, info, err := set.DetectInfo(img)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "yunet-n-dynamic+blazeface-back-256" || len(info.Models) != 2 {
		t.Errorf("info %+v", info)
	}
	if len(dets) != 4 {
		t.Fatalf("%d regions, want the 4 faces once each: %+v", len(dets), dets)
	}
	for _, d := range dets {
		if d.Model != "yunet-n-dynamic" && d.Model != "blazeface-back-256" {
			t.Errorf("region %+v names no model of the set", d)
		}
	}
	// Each model alone: every box it finds lies within one merged region.
	for _, dir := range dirs {
		m, err := rt.Load(dir, infer.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		alone, err := m.Detect(img)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(alone) != 4 {
			t.Fatalf("%s alone: %d faces, want 4", dir, len(alone))
		}
		for _, a := range alone {
			if !slices.ContainsFunc(dets, func(d convert.Detection) bool {
				return d.Box.X1 <= a.Box.X1 && d.Box.Y1 <= a.Box.Y1 && d.Box.X2 >= a.Box.X2 && d.Box.Y2 >= a.Box.Y2
			}) {
				t.Errorf("%s found %+v, which no region of the set covers", filepath.Base(dir), a.Box)
			}
		}
	}
}

// TestSetForVideo: a model loaded ImagesOnly runs on photos (the set) but
// not on video frames (ForVideo), unless it is all there is.
func TestSetForVideo(t *testing.T) {
	rt := newRuntime(t)
	yunet, back := modelDir(t, "yunet-n-dynamic"), modelDir(t, "blazeface-back-256")
	set, err := rt.NewSet([]infer.Spec{{Dir: yunet}, {Dir: back, Options: infer.LoadOptions{ImagesOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	img := readPhoto(t, "faces/group_uf2.jpg")
	_, photo, err := set.DetectInfo(img)
	if err != nil {
		t.Fatal(err)
	}
	dets, frame, err := set.ForVideo().DetectInfo(img)
	if err != nil {
		t.Fatal(err)
	}
	if photo.Name != "yunet-n-dynamic+blazeface-back-256" || frame.Name != "yunet-n-dynamic" || set.ForVideo().Info().Name != "yunet-n-dynamic" {
		t.Errorf("photos ran %q, video frames %q (Info %q); want both, then yunet-n-dynamic alone", photo.Name, frame.Name, set.ForVideo().Info().Name)
	}
	if len(dets) != 4 {
		t.Errorf("video frame: %d faces, want 4", len(dets))
	}
	for _, d := range dets {
		if d.Model != "yunet-n-dynamic" {
			t.Errorf("video frame region by %q", d.Model)
		}
	}

	// Photos-only models alone: video frames still get a detector.
	only, err := rt.NewSet([]infer.Spec{{Dir: back, Options: infer.LoadOptions{ImagesOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	if dets, info, err := only.ForVideo().DetectInfo(img); err != nil || info.Name != "blazeface-back-256" || len(dets) != 4 {
		t.Errorf("photos-only set on a video frame: %d faces by %q (%v), want 4 by blazeface-back-256", len(dets), info.Name, err)
	}
}

// TestAdopt: a new model runs beside the running ones, with its own
// options, even when it hides the same labels: adopting never removes a
// detector. A new version of a running model (same manifest name) takes its
// place; only the explicit replace lets a model of another name take the
// place of the one hiding the same labels.
func TestAdopt(t *testing.T) {
	yunet := modelDir(t, "yunet-n-dynamic")
	back := modelDir(t, "blazeface-back-256")
	mock := mockDir(t) // hides "red"
	specs := []infer.Spec{{Dir: yunet, Options: infer.LoadOptions{Threshold: 0.4}}, {Dir: mock}}
	own := infer.Spec{Dir: back, Options: infer.LoadOptions{Threshold: 0.7}}

	got := infer.Adopt(specs, own, false)
	if len(got) != 3 || got[0].Dir != yunet || got[1].Dir != mock || got[2].Dir != back || got[2].Options.Threshold != 0.7 {
		t.Errorf("a second face model does not run beside the first with its own threshold 0.7: %+v", got)
	}
	got = infer.Adopt(specs, own, true)
	if len(got) != 2 || got[0].Dir != back || got[0].Options.Threshold != 0.7 || got[1].Dir != mock {
		t.Errorf("with replace, the face model is not replaced in place by one with its own threshold 0.7: %+v", got)
	}
	got = infer.Adopt([]infer.Spec{{Dir: yunet}}, infer.Spec{Dir: mock}, true)
	if len(got) != 2 || got[1].Dir != mock {
		t.Errorf("model hiding other labels not added: %+v", got)
	}

	// A new version of yunet-n-dynamic in another folder replaces it.
	v2 := filepath.Join(t.TempDir(), "yunet-n-dynamic-v2")
	installAs(t, filepath.Dir(v2), "yunet-n-dynamic-v2", "yunet-n-dynamic", "2")
	retitle(t, v2, "yunet-n-dynamic")
	got = infer.Adopt(specs, infer.Spec{Dir: v2}, false)
	if len(got) != 2 || got[0].Dir != v2 || got[1].Dir != mock {
		t.Errorf("a new version of a running model does not take its place: %+v", got)
	}
}

// retitle sets the name in dir's manifest.
func retitle(t *testing.T, dir, name string) {
	t.Helper()
	p := filepath.Join(dir, models.ManifestFile)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data = regexp.MustCompile(`(?m)^name = .*$`).ReplaceAll(data, []byte(fmt.Sprintf("name = %q", name)))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenFolderDoesNotBlockReloads: a model folder that cannot load
// (a valid manifest beside random bytes) is refused each time, saying so,
// and never keeps the other models from reloading: a changed config still
// applies, and every reload logs its outcome.
func TestBrokenFolderDoesNotBlockReloads(t *testing.T) {
	var logs testenv.LogBuffer
	rt, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	installAs(t, dir, "faces", "yunet-n-dynamic", "1")
	faces := filepath.Join(dir, "faces")
	set, err := rt.NewSet([]infer.Spec{{Dir: faces}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	want := []infer.Spec{{Dir: faces}}
	r := &infer.Reloader{Set: set, ModelsDir: dir, AdoptNew: true, Log: logs.Logger(),
		Specs: func() ([]infer.Spec, error) { return want, nil }}
	r.Start()

	broken := filepath.Join(dir, "broken")
	man, err := os.ReadFile(filepath.Join(faces, models.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(broken, 0o755)
	os.WriteFile(filepath.Join(broken, models.ManifestFile), regexp.MustCompile(`(?m)^name = .*$`).ReplaceAll(man, []byte(`name = "broken"`)), 0o644)
	os.WriteFile(filepath.Join(broken, models.ModelFile), bytes.Repeat([]byte{0x5a, 0x13, 0xc7}, 4000), 0o644)
	if err := r.Reload(); err == nil {
		t.Fatal("reload with a broken folder: no error")
	}
	if n := strings.Count(logs.String(), "dir="+broken); n == 0 {
		t.Errorf("the broken folder is not named in the log:\n%s", logs.String())
	}

	// The config now names another model: it applies, the broken folder
	// notwithstanding, and the attempt says what happened to each.
	installAs(t, dir, "back", "blazeface-back-256", "1")
	want = []infer.Spec{{Dir: filepath.Join(dir, "back")}}
	before := len(logs.String())
	r.Reload()
	if got := set.Info().Name; got != "back" {
		t.Errorf("after a config change: %q runs, want back (blazeface-back-256)", got)
	}
	if !strings.Contains(logs.String()[before:], "broken") {
		t.Errorf("the second reload does not mention the broken folder still refused:\n%s", logs.String()[before:])
	}
	// Nothing changed: the attempt is logged all the same.
	before = len(logs.String())
	r.Reload()
	if !strings.Contains(logs.String()[before:], "reload") {
		t.Errorf("a reload that changes nothing logs nothing:\n%s", logs.String()[before:])
	}
}

// TestFailedReplacementKeepsModel: a new version of a running model, in a
// folder of its own, that cannot load (random bytes) leaves the running
// version in place: a failed replacement never removes a detector. (It
// removed it, leaving only the mock, so faces went unhidden.)
func TestFailedReplacementKeepsModel(t *testing.T) {
	rt := newRuntime(t)
	dir := t.TempDir()
	installAs(t, dir, "faces", "yunet-n-dynamic", "1")
	faces, mock := filepath.Join(dir, "faces"), mockDir(t)
	want := []infer.Spec{{Dir: faces}, {Dir: mock}}
	set, err := rt.NewSet(want)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	r := &infer.Reloader{Set: set, ModelsDir: dir, AdoptNew: true, Log: slog.New(slog.DiscardHandler),
		Specs: func() ([]infer.Spec, error) { return want, nil }}
	r.Start()
	v2 := filepath.Join(dir, "faces-v2")
	os.MkdirAll(v2, 0o755)
	man, err := os.ReadFile(filepath.Join(faces, models.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(v2, models.ManifestFile), regexp.MustCompile(`(?m)^version = .*$`).ReplaceAll(man, []byte(`version = "2"`)), 0o644)
	os.WriteFile(filepath.Join(v2, models.ModelFile), bytes.Repeat([]byte{0x5a, 0x13, 0xc7}, 4000), 0o644)
	for range 2 { // the second time, the failure is known
		if err := r.Reload(); err == nil {
			t.Fatal("reload with a broken new version: no error")
		}
		if got := set.Info(); got.Name != "faces+mock" || got.Version != "1+1" {
			t.Fatalf("after a failed replacement %s %s runs, want faces+mock 1+1", got.Name, got.Version)
		}
	}
}
