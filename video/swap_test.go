package video

import (
	"context"
	"image/color"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// streamSource clones one photo as an endless stream of frames until stop
// is closed; reads counts the frames handed out.
type streamSource struct {
	img   gocv.Mat
	reads atomic.Int64
	stop  chan struct{}
}

func (s *streamSource) Read() (Frame, error) {
	select {
	case <-s.stop:
		return Frame{}, io.EOF
	default:
	}
	i := s.reads.Add(1) - 1
	return Frame{Index: int(i), Mat: s.img.Clone()}, nil
}

func (s *streamSource) Close() error { return nil }

type swapRecord struct {
	version string
	hidden  bool
	whole   bool
}

// swapSink checks every frame as it is written: the four face centres of
// the group photo must be black (solid style), and it records which model
// version served the frame.
type swapSink struct {
	mu     sync.Mutex
	frames []swapRecord
	next   int
	order  bool
}

var groupFaceCentres = [][2]int{{352, 166}, {177, 178}, {598, 148}, {773, 202}}

func (s *swapSink) Write(f Frame, r FrameResult) error {
	defer f.Mat.Close()
	hidden := true
	for _, c := range groupFaceCentres {
		v := f.Mat.GetVecbAt(c[1], c[0])
		if v[0] != 0 || v[1] != 0 || v[2] != 0 {
			hidden = false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Index != s.next {
		s.order = false
	}
	s.next = f.Index + 1
	s.frames = append(s.frames, swapRecord{version: r.Model.Version, hidden: hidden, whole: r.HiddenWhole})
	return nil
}

func (s *swapSink) Close() error { return nil }

func installVersion(t *testing.T, modelsDir, name, version string) {
	t.Helper()
	cat, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	e, _ := cat.Find(name)
	src := filepath.Join(testenv.Model(t, name), models.ModelFile)
	e.Name, e.Version = "faces", version
	if _, err := models.Install(e, src, modelsDir); err != nil {
		t.Fatal(err)
	}
}

// TestModelSwapWhileStreaming is the hot-reload guarantee: while frames
// stream through the pipeline, the model is swapped 20 times through the
// folder watcher (yunet-n-dynamic and blazeface-back-256 alternating, a
// corrupt model among them). No frame is lost, none is written with a face
// showing, and every frame read after a swap was reported is processed by
// the new model, whose version the frame's record carries.
func TestModelSwapWhileStreaming(t *testing.T) {
	testenv.InitORT(t)
	rt, err := infer.Init(infer.Options{Library: testenv.ORTLibrary(t), Providers: []string{"cpu"}, IntraOpThreads: 1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	installVersion(t, dir, "yunet-n-dynamic", "0")
	faces := filepath.Join(dir, "faces")
	set, err := rt.NewSet([]infer.Spec{{Dir: faces}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	events := set.Subscribe()
	rl := &infer.Reloader{Set: set, ModelsDir: dir, Debounce: 30 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
		Specs: func() ([]infer.Spec, error) { return []infer.Spec{{Dir: faces}}, nil }}
	rl.Start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rl.Run(ctx, nil)

	img, err := imageio.Read(testenv.Shared(t, "data/faces/group_uf2.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	src := &streamSource{img: img, stop: make(chan struct{})}
	sink := &swapSink{order: true}
	type result struct {
		stats PipelineStats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		st, err := RunPipeline(ctx, src, set, sink, PipelineOptions{Workers: 2,
			Hide: hide.Options{Style: hide.Solid, Shape: hide.Box, MaskScale: 1.3, Colour: color.RGBA{A: 255}}})
		done <- result{st, err}
	}()

	const swaps, broken = 20, 9
	// firstNew[v] is the first frame index read after version v was reported.
	firstNew := map[string]int64{}
	current := "0"
	for k := 1; k <= swaps; k++ {
		// Let a few frames through the current model first.
		for at := src.reads.Load(); src.reads.Load() < at+4; {
			time.Sleep(time.Millisecond)
		}
		v := strconv.Itoa(k)
		if k == broken {
			bad := filepath.Join(dir, ".incoming")
			os.MkdirAll(bad, 0o755)
			os.WriteFile(filepath.Join(bad, models.ModelFile), []byte("corrupt"), 0o644)
			man, _ := os.ReadFile(filepath.Join(faces, models.ManifestFile))
			os.WriteFile(filepath.Join(bad, models.ManifestFile), append(man, "\n# broken copy\n"...), 0o644)
			os.RemoveAll(faces + ".old")
			os.Rename(faces, faces+".old")
			os.Rename(bad, faces)
		} else if k%2 == 1 {
			installVersion(t, dir, "blazeface-back-256", v)
		} else {
			installVersion(t, dir, "yunet-n-dynamic", v)
		}
		ev := nextEvent(t, events, v)
		if k == broken {
			if ev.Err == nil {
				t.Fatalf("corrupt model accepted: %+v", ev)
			}
			if got := set.Info().Version; got != current {
				t.Fatalf("after the corrupt model, version %s serves, want %s", got, current)
			}
			continue
		}
		firstNew[v] = src.reads.Load()
		current = v
	}
	close(src.stop)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !sink.order || len(sink.frames) != int(src.reads.Load()) || res.stats.Written != len(sink.frames) {
		t.Fatalf("frames lost or out of order: read %d, written %d (stats %+v)", src.reads.Load(), len(sink.frames), res.stats)
	}
	if res.stats.HiddenWhole != 0 || res.stats.Dropped != 0 {
		t.Errorf("a swap failed frames: %+v", res.stats)
	}
	for i, f := range sink.frames {
		if !f.hidden {
			t.Fatalf("frame %d (model version %s) was written with a face showing", i, f.version)
		}
	}
	// Every frame read after version v was reported ran on v or later.
	for v, first := range firstNew {
		want, _ := strconv.Atoi(v)
		for i := int(first); i < len(sink.frames); i++ {
			got, _ := strconv.Atoi(sink.frames[i].version)
			if got < want {
				t.Fatalf("frame %d, read after the swap to version %d, ran on version %d", i, want, got)
			}
		}
	}
	t.Logf("%d frames through %d swaps", len(sink.frames), swaps)
}

func nextEvent(t *testing.T, events <-chan infer.Event, version string) infer.Event {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Err != nil || (ev.Swapped && ev.Info.Version == version) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no reload event for version %s within 60 s", version)
		}
	}
}
