package infer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/anonymize/anonymize/models"
)

// Reloader keeps a Set in line with the models directory and the config:
// it watches the models folder (each model folder too) and the config file,
// and after a burst of changes has settled, asks Specs what should run and
// reloads the set. Unchanged content is skipped by hash inside the Set.
type Reloader struct {
	Set       *Set
	ModelsDir string
	// Specs returns the configured models (it re-reads the config).
	Specs func() ([]Spec, error)
	// AdoptNew runs a model folder dropped into ModelsDir while running,
	// as Adopt says: beside the running models, or (Replace) in place of
	// the one whose labels it shares.
	AdoptNew bool
	// Replace is the explicit choice to let an adopted model take the
	// place of a running model that hides the same labels, lowering
	// protection if it is weaker; off, a new model only ever adds.
	Replace bool
	// SpecFor is how an adopted folder runs: its own settings (threshold,
	// hiding style) from the config. Nil: the manifest's defaults.
	SpecFor func(dir string) Spec
	// Files are further files to watch (config.toml).
	Files []string
	// Debounce is the quiet time after the last change (default 500 ms).
	Debounce time.Duration
	Log      *slog.Logger

	known   map[string]bool // model folders seen so far
	adopted []string        // folders adopted, in order
}

// Start records the model folders present now: only folders that appear
// later count as new.
func (r *Reloader) Start() {
	r.known = map[string]bool{}
	for _, d := range modelFolders(r.ModelsDir) {
		r.known[d] = true
	}
}

// Reload recomputes what should run and reloads the set.
func (r *Reloader) Reload() error {
	if r.known == nil {
		r.Start()
	}
	specs, err := r.Specs()
	if err != nil {
		r.log().Error("reload: config not applied; the running models stay", "err", err)
		return err
	}
	if r.AdoptNew {
		for _, d := range modelFolders(r.ModelsDir) {
			if r.known[d] {
				continue
			}
			if _, err := models.ReadManifest(d); err != nil {
				continue // not (yet) a complete model folder: look again later
			}
			if _, err := os.Stat(filepath.Join(d, models.ModelFile)); err != nil {
				continue // its model.onnx is not there yet
			}
			r.known[d] = true
			r.adopted = append(r.adopted, d)
			r.log().Info("new model folder", "dir", d)
		}
		for _, d := range r.adopted {
			sp := Spec{Dir: d}
			if r.SpecFor != nil {
				sp = r.SpecFor(d)
			}
			specs = Adopt(specs, sp, r.Replace)
		}
	}
	return r.Set.Reload(specs)
}

func (r *Reloader) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// Adopt puts the adopted model into specs, with its own options. A new
// version of a running model (the same name in its manifest) takes that
// model's place; any other model runs beside the others (their detections
// are merged), so adopting never removes a detector. With replace, it
// takes the place of every running model that hides a label it also
// hides: an explicit choice, since the new model may find less.
func Adopt(specs []Spec, adopted Spec, replace bool) []Spec {
	dir := adopted.Dir
	nm, err := models.ReadManifest(dir)
	if err != nil {
		return specs
	}
	var out []Spec
	replaced := false
	for _, sp := range specs {
		if filepath.Clean(sp.Dir) == filepath.Clean(dir) {
			return specs
		}
		om, err := models.ReadManifest(sp.Dir)
		hides := om.Hide
		if len(sp.Options.Hide) > 0 {
			hides = sp.Options.Hide
		}
		same := err == nil && om.Name == nm.Name
		if same || (replace && err == nil && overlaps(hides, nm.Hide)) {
			adopted.Replaces = append(adopted.Replaces, sp.Dir)
			replaced = true
			continue
		}
		out = append(out, sp)
	}
	if !replaced {
		return append(out, adopted)
	}
	// In the place of the first model it replaces.
	at := slices.IndexFunc(specs, func(sp Spec) bool { return sp.Dir == adopted.Replaces[0] })
	return slices.Insert(out, min(at, len(out)), adopted)
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// modelFolders lists the folders in dir holding a model.toml or model.onnx.
func modelFolders(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(p, models.ManifestFile)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Run watches until ctx ends, reloading after changes have settled and
// whenever a value arrives on sighup. Directories are watched, not files
// (editors and copy tools replace files).
func (r *Reloader) Run(ctx context.Context, sighup <-chan struct{}) error {
	if r.known == nil {
		r.Start()
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch models: %w", err)
	}
	defer w.Close()
	if err := w.Add(r.ModelsDir); err != nil {
		return fmt.Errorf("watch %s: %w", r.ModelsDir, err)
	}
	for _, d := range modelFoldersAny(r.ModelsDir) {
		w.Add(d)
	}
	files := map[string]bool{}
	for _, f := range r.Files {
		abs, _ := filepath.Abs(f)
		files[abs] = true
		if err := w.Add(filepath.Dir(abs)); err != nil {
			return fmt.Errorf("watch %s: %w", f, err)
		}
	}
	modelsAbs, _ := filepath.Abs(r.ModelsDir)
	debounce := r.Debounce
	if debounce <= 0 {
		debounce = 500 * time.Millisecond
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sighup:
			r.log().Info("reload requested (SIGHUP)")
			r.Reload()
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			abs, _ := filepath.Abs(ev.Name)
			dir := filepath.Dir(abs)
			relevant := files[abs] || dir == modelsAbs || filepath.Dir(dir) == modelsAbs
			if !relevant {
				continue
			}
			if ev.Has(fsnotify.Create) && dir == modelsAbs {
				if st, err := os.Stat(abs); err == nil && st.IsDir() {
					w.Add(abs) // a new model folder: watch inside it too
				}
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				timer.Reset(debounce) // missed events: look at everything
				continue
			}
			r.log().Warn("watching models", "err", err)
		case <-timer.C:
			r.Reload()
		}
	}
}

// modelFoldersAny lists every subfolder, complete model or not.
func modelFoldersAny(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
