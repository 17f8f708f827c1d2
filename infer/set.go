package infer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/models"
)

// Spec names one model to run: the folder and how to load it.
type Spec struct {
	Dir     string
	Options LoadOptions
	// Replaces are the folders of running models this spec takes the
	// place of (an adopted new version, or adopt = "replace"). If it
	// fails to load or is refused, they go on running: a failed
	// replacement never removes a detector.
	Replaces []string
}

// Event reports a reload outcome.
type Event struct {
	Swapped bool   // a model was loaded and put to work
	Removed bool   // a model was taken out of the set
	Dir     string // the model folder concerned
	Info    Info   // the model now serving (Swapped) or removed
	Err     error  // why a load failed; the previous model stays
}

// Set runs one or more models as a single Detector and hot-swaps them:
// Reload builds changed models off to the side (contract check and warm-up
// inference included), then swaps them in with one atomic store. In-flight
// Detect calls finish on the old model, which is closed after them. A model
// that fails to load leaves the running one untouched, and the same content
// is not tried again.
type Set struct {
	rt  *Runtime
	log *slog.Logger

	// reloadMu serialises reloads; it is held through the loads and the
	// gate. mu guards closed and the swap, and is never held through a
	// load, so Close does not wait for a reload in progress: it cancels
	// that reload's gate (ctx), and the reload, finding the set closed,
	// closes what it loaded.
	reloadMu sync.Mutex
	failed   map[string]error // by content key; under reloadMu
	mu       sync.Mutex
	slots    atomic.Pointer[[]*slot]
	closed   bool
	ctx      context.Context // ends with Close
	cancel   context.CancelFunc

	subMu sync.Mutex
	subs  []chan Event

	swaps atomic.Int64

	// Gate, when set, must accept a newly loaded model m before it is
	// swapped in (e.g. a recall check on a reference set). after runs the
	// set as it would be with m in: m and the other models, merged as
	// DetectInfo merges them, so a plate model is not judged on faces
	// alone. A refused model is closed and logged with the reason; it is
	// judged again at the next reload, since the verdict depends on the
	// rest of the set. ctx ends when the set is closed.
	Gate func(ctx context.Context, m *Model, after Detector) error
}

type slot struct {
	spec  Spec
	key   string // content hash of model.onnx, model.toml and the options
	model *Model
}

// ErrNoModels means a Set was asked to run nothing.
var ErrNoModels = errors.New("no models to run")

// NewSet loads every spec. All must load: a set that silently lacked one of
// its detectors would leave that detector's classes unhidden.
func (r *Runtime) NewSet(specs []Spec) (*Set, error) {
	s := &Set{rt: r, log: r.log, failed: map[string]error{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	empty := []*slot{}
	s.slots.Store(&empty)
	if len(specs) == 0 {
		return nil, ErrNoModels
	}
	if _, err := s.reload(specs, true); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Subscribe returns a channel of reload events (buffered; events are
// dropped for a subscriber that does not keep up).
func (s *Set) Subscribe() <-chan Event {
	ch := make(chan Event, 64)
	s.subMu.Lock()
	s.subs = append(s.subs, ch)
	s.subMu.Unlock()
	return ch
}

func (s *Set) emit(e Event) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for _, ch := range s.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Swaps counts the models swapped in since the set was made.
func (s *Set) Swaps() int64 { return s.swaps.Load() }

// Models lists the models serving now.
func (s *Set) Models() []Info {
	return infos(*s.slots.Load())
}

// Reload makes the set run exactly specs. Unchanged models are kept as
// they are; changed and new ones are loaded aside and swapped in; models no
// longer listed are closed once their in-flight calls finish. A spec that
// fails to load keeps its previous model (the one at the same folder) and
// is reported in the returned error; its content is not retried.
func (s *Set) Reload(specs []Spec) error {
	_, err := s.reload(specs, false)
	return err
}

func (s *Set) reload(specs []Spec, initial bool) (changed bool, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return false, ErrClosed
	}
	old := *s.slots.Load()
	next, loaded, errs := s.prepare(old, specs, initial)
	closeAll := func() {
		for _, sl := range loaded {
			sl.model.Close()
		}
	}
	if initial && len(errs) > 0 {
		closeAll()
		return false, errors.Join(errs...)
	}
	if len(next) == 0 && len(old) > 0 {
		// Never swap to running nothing: keep what runs.
		s.log.Error("reload refused: no model would run; the running ones stay", "running", setNames(old))
		return false, errors.Join(append(errs, ErrNoModels)...)
	}
	s.mu.Lock()
	if s.closed { // closed while loading: nothing is swapped in
		s.mu.Unlock()
		closeAll()
		return false, ErrClosed
	}
	s.slots.Store(&next)
	s.mu.Unlock()
	s.retire(old, next)
	for _, sl := range loaded {
		if !initial {
			s.swaps.Add(1)
			info := sl.model.Info()
			s.log.Info("model swapped in", "model", info.Name, "version", info.Version, "dir", sl.spec.Dir)
		}
		s.emit(Event{Swapped: true, Dir: sl.spec.Dir, Info: sl.model.Info()})
	}
	if !initial {
		if len(loaded) > 0 || len(next) != len(old) {
			s.log.Info("models running", "before", setNames(old), "after", setNames(next))
		}
		s.log.Info("reload done", "swapped", len(loaded), "refused", len(errs), "running", setNames(next))
	}
	return len(loaded) > 0, errors.Join(errs...)
}

// setNames is the models of a set, as name@version joined by "+".
func setNames(slots []*slot) string {
	var names []string
	for _, sl := range slots {
		info := sl.model.Info()
		names = append(names, info.Name+"@"+info.Version)
	}
	return strings.Join(names, "+")
}

// prepare decides the set that would run specs, in their order: an
// unchanged model is kept, a changed or new one is loaded aside and passes
// the gate, and one that fails keeps its previous model (if any). loaded
// are the new models among next.
func (s *Set) prepare(old []*slot, specs []Spec, initial bool) (next, loaded []*slot, errs []error) {
	byDir := map[string]*slot{}
	for _, sl := range old {
		byDir[filepath.Clean(sl.spec.Dir)] = sl
	}
	for i, sp := range specs {
		prev := byDir[filepath.Clean(sp.Dir)]
		key, kerr := contentKey(sp)
		if kerr == nil && prev != nil && prev.key == key {
			next = append(next, prev)
			continue
		}
		if ferr, ok := s.failed[key]; kerr == nil && ok && !initial {
			// Same content as a load that failed: not retried.
			if prev != nil {
				next = append(next, prev)
			}
			errs = append(errs, fmt.Errorf("%s: unchanged since it failed: %w", sp.Dir, ferr))
			s.log.Warn("model still refused: unchanged since it failed", "dir", sp.Dir, "err", ferr)
			next = append(next, kept(byDir, sp.Replaces, next)...)
			continue
		}
		var m *Model
		lerr, gated := kerr, false
		if lerr == nil {
			m, lerr = s.rt.Load(sp.Dir, sp.Options)
		}
		if lerr == nil && s.Gate != nil && !initial {
			// The set after the swap: what is decided so far, m, and the
			// running models of the specs still to come.
			after := append(slices.Clone(next), &slot{spec: sp, model: m})
			for _, later := range specs[i+1:] {
				if o := byDir[filepath.Clean(later.Dir)]; o != nil {
					after = append(after, o)
				}
			}
			if gerr := s.Gate(s.ctx, m, slotsDetector(after)); gerr != nil {
				m.Close()
				lerr, gated = fmt.Errorf("model %s refused: %w", sp.Dir, gerr), true
			}
		}
		if lerr != nil {
			// Remember a model that cannot load, not a gate's verdict: that
			// depends on the rest of the set, which may change.
			if kerr == nil && !gated {
				s.failed[key] = lerr
			}
			errs = append(errs, lerr)
			switch {
			case prev != nil && !initial:
				s.log.Error("model not loaded; the running one stays", "dir", sp.Dir, "err", lerr)
			default: // nothing of that folder runs (a start, or a new folder)
				s.log.Error("model not loaded", "dir", sp.Dir, "err", lerr)
			}
			s.emit(Event{Dir: sp.Dir, Err: lerr})
			if prev != nil {
				next = append(next, prev)
			}
			next = append(next, kept(byDir, sp.Replaces, next)...)
			continue
		}
		sl := &slot{spec: sp, key: key, model: m}
		loaded = append(loaded, sl)
		next = append(next, sl)
	}
	return next, loaded, errs
}

// kept is the running models of the folders in dirs that are not in next
// yet: those a failed replacement leaves running.
func kept(byDir map[string]*slot, dirs []string, next []*slot) []*slot {
	var out []*slot
	for _, d := range dirs {
		sl := byDir[filepath.Clean(d)]
		if sl != nil && !slices.Contains(next, sl) && !slices.Contains(out, sl) {
			out = append(out, sl)
		}
	}
	return out
}

// retire closes the models of old that next no longer runs, each after its
// in-flight calls, and reports the folders taken out of the set.
func (s *Set) retire(old, next []*slot) {
	keep := map[*slot]bool{}
	for _, sl := range next {
		keep[sl] = true
	}
	for _, sl := range old {
		if keep[sl] {
			continue
		}
		info := sl.model.Info()
		sl.model.Close()
		if !slices.ContainsFunc(next, func(n *slot) bool { return filepath.Clean(n.spec.Dir) == filepath.Clean(sl.spec.Dir) }) {
			s.log.Info("model removed", "model", info.Name, "version", info.Version)
			s.emit(Event{Removed: true, Dir: sl.spec.Dir, Info: info})
		}
	}
}

// contentKey identifies what a spec would load: the bytes of model.onnx and
// model.toml, and the options (the hiding style among them).
func contentKey(sp Spec) (string, error) {
	h := sha256.New()
	for _, f := range []string{models.ModelFile, models.ManifestFile} {
		fh, err := os.Open(filepath.Join(sp.Dir, f))
		if err != nil {
			return "", fmt.Errorf("load model %s: %w", sp.Dir, err)
		}
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("load model %s: %w", sp.Dir, err)
		}
	}
	fmt.Fprintf(h, "\x00%g\x00%v\x00%q\x00%s\x00%t", sp.Options.Threshold, sp.Options.Bands, sp.Options.Hide, sp.Options.Tiles, sp.Options.ImagesOnly)
	if st := sp.Options.Style; st != nil { // a new style is a new model: the Info that carries it changes
		fmt.Fprintf(h, "\x00%+v", *st)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Detect runs every model and merges their detections.
func (s *Set) Detect(img gocv.Mat) ([]convert.Detection, error) {
	d, _, err := s.DetectInfo(img)
	return d, err
}

// DetectInfo runs every model and names them. A model swapped out between
// reading the set and running it is retried on its replacement, so a swap
// never fails a frame.
func (s *Set) DetectInfo(img gocv.Mat) ([]convert.Detection, Info, error) {
	return s.detect(img, false, 1)
}

// DetectScaled is DetectInfo on a copy of the source scaled by 1/scale: each
// model's threshold bands apply at source heights (Model.DetectScaled).
func (s *Set) DetectScaled(img gocv.Mat, scale float32) ([]convert.Detection, Info, error) {
	return s.detect(img, false, scale)
}

// ForVideo is the set as video frames see it: every model but those loaded
// with ImagesOnly. If that would leave none, every model runs: a video is
// never left without a detector. It follows reloads like the set itself.
func (s *Set) ForVideo() Detector { return videoView{s} }

type videoView struct{ s *Set }

func (v videoView) Detect(img gocv.Mat) ([]convert.Detection, error) {
	d, _, err := v.s.detect(img, true, 1)
	return d, err
}

func (v videoView) DetectInfo(img gocv.Mat) ([]convert.Detection, Info, error) {
	return v.s.detect(img, true, 1)
}

func (v videoView) DetectScaled(img gocv.Mat, scale float32) ([]convert.Detection, Info, error) {
	return v.s.detect(img, true, scale)
}

func (v videoView) Info() Info {
	return Combine(infos(forVideo(*v.s.slots.Load())))
}

// Close does nothing: the set owns the models.
func (v videoView) Close() error { return nil }

// forVideo leaves out the ImagesOnly models, unless that leaves none.
func forVideo(cur []*slot) []*slot {
	var out []*slot
	for _, sl := range cur {
		if !sl.spec.Options.ImagesOnly {
			out = append(out, sl)
		}
	}
	if len(out) == 0 {
		return cur
	}
	return out
}

func infos(cur []*slot) []Info {
	out := make([]Info, len(cur))
	for i, sl := range cur {
		out[i] = sl.model.Info()
	}
	return out
}

func (s *Set) detect(img gocv.Mat, video bool, scale float32) ([]convert.Detection, Info, error) {
	for attempt := 0; ; attempt++ {
		p := s.slots.Load()
		cur := *p
		if len(cur) == 0 {
			return nil, Info{}, ErrNoModels
		}
		if video {
			cur = forVideo(cur)
		}
		all, info, err := runSlots(img, cur, scale)
		if errors.Is(err, ErrClosed) && attempt < 100 && s.slots.Load() != p {
			continue // swapped meanwhile: run on the new set
		}
		return all, info, err
	}
}

// runSlots runs every model of cur on img (the source scaled by 1/scale)
// and merges their detections.
func runSlots(img gocv.Mat, cur []*slot, scale float32) ([]convert.Detection, Info, error) {
	var all []convert.Detection
	infos := make([]Info, 0, len(cur))
	for _, sl := range cur {
		d, _, err := sl.model.DetectScaled(img, scale)
		if err != nil {
			return nil, Combine(infos), err
		}
		name := sl.model.info.Name
		for i := range d {
			d[i].Model = name
		}
		all = append(all, d...)
		infos = append(infos, sl.model.info)
	}
	if len(cur) > 1 {
		// Two detectors finding one face give one region, not two.
		all = convert.MergeAcross(all, mergeIoU)
	}
	return all, Combine(infos), nil
}

// slotsDetector runs a fixed list of models as a Set would (Gate's view of
// the set after a swap). It owns nothing: Close does nothing.
type slotsDetector []*slot

func (d slotsDetector) Detect(img gocv.Mat) ([]convert.Detection, error) {
	all, _, err := runSlots(img, d, 1)
	return all, err
}

func (d slotsDetector) DetectInfo(img gocv.Mat) ([]convert.Detection, Info, error) {
	return runSlots(img, d, 1)
}

func (d slotsDetector) Info() Info { return Combine(infos(d)) }

func (d slotsDetector) Close() error { return nil }

// mergeIoU is the overlap above which detections of one label by different
// models are taken for the same object.
const mergeIoU = 0.5

// Combine names several models as one: "a+b", versions likewise; one
// model is itself.
func Combine(infos []Info) Info {
	if len(infos) == 1 {
		return infos[0]
	}
	var c Info
	var names, versions, adapters, providers []string
	for _, i := range infos {
		names = append(names, i.Name)
		versions = append(versions, i.Version)
		adapters = append(adapters, i.Adapter)
		providers = append(providers, i.Provider)
		for _, h := range i.Hide {
			if !slices.Contains(c.Hide, h) {
				c.Hide = append(c.Hide, h)
			}
		}
	}
	c.Name = strings.Join(names, "+")
	c.Version = strings.Join(versions, "+")
	c.Adapter = strings.Join(adapters, "+")
	c.Provider = strings.Join(providers, "+")
	c.Models = infos
	return c
}

// Info names the models serving now.
func (s *Set) Info() Info { return Combine(infos(*s.slots.Load())) }

// Close closes every model after its in-flight calls. It does not wait for
// a reload in progress, whose gate it cancels. Safe to call twice.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel() // a reload in progress stops at its gate
	var errs []error
	for _, sl := range *s.slots.Load() {
		errs = append(errs, sl.model.Close())
	}
	s.subMu.Lock()
	for _, ch := range s.subs {
		close(ch)
	}
	s.subs = nil
	s.subMu.Unlock()
	return errors.Join(errs...)
}
