package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/imageio"
)

// Options configure Run.
type Options struct {
	// Options say how each file is anonymized, as in a folder run:
	// Format names the outputs as batch.Plan does, Jobs images are
	// processed at once (videos one at a time beside them), and with
	// Overwrite the files found at start are redone even when their output
	// is up to date. Log gets one line per file.
	batch.Options
	// Settle is how long a file must go unchanged (no event, and the same
	// size and modification time) before it is read, so that a file still
	// being written is never read half done. 0 reads it as soon as it is
	// seen.
	Settle time.Duration
	// Current, when set, gives the options for each file as it starts (so
	// that a reloaded config applies to the next file); Format, Jobs,
	// Overwrite and Log are always those above.
	Current func() batch.Options
	// Report is told of each file's outcome (from one goroutine at a time),
	// those found up to date at start included (StatusSkipped).
	Report func(batch.ImageResult)
	// Ready is called once the files present at start have been looked at
	// and every folder is watched.
	Ready func()
}

// Watch anonymizes the images and videos under the folders inputs, then
// every file that arrives in them or changes, until ctx ends; it then
// finishes the images in progress (a video in progress is stopped, nothing
// written, and done at the next start) and returns what was done, one
// outcome per input file (the last, for a file done more than once).
// Images are done o.Jobs at a time, and beside them videos one at a time,
// as in batch.Run.
//
// Outputs go where batch.Plan puts them (out as for batch.Plan). Folders
// are watched recursively, new subfolders included; hidden files and folders, the
// names download and copy tools give unfinished files (*.tmp, *.part,
// *.crdownload, name~) and an output folder inside an input are ignored.
// A file is read once it has settled (see Options.Settle) and is not
// empty; a file that changes while it is processed is done again after. A
// file whose content is what was last processed (or last failed) is not
// processed again, and at start a file whose output is up to date
// (UpToDate) is skipped, so a restarted watch does not redo finished work.
// When the system reports that events were lost, the folders are walked
// again.
func Run(ctx context.Context, det video.Detector, inputs []string, out string, o Options) (batch.Summary, error) {
	w, err := newWatcher(det, inputs, out, o)
	if err != nil {
		return batch.Summary{}, err
	}
	return w.run(ctx)
}

type watcher struct {
	det    video.Detector
	o      Options
	log    *slog.Logger
	roots  []*watchRoot
	skip   []string // absolute folders neither walked nor watched (outputs)
	fsw    *fsnotify.Watcher
	files  map[string]*watchFile
	wait   map[*watchFile]bool // the files pending, not queued or running
	others map[string]bool     // files seen that are neither images nor videos
	dirs   map[string]bool     // the folders watched
	claims map[string]string   // output -> the input writing it
	made   *sources            // the content each output was made from
	seq    uint64

	ctx     context.Context
	images  lane // Jobs workers
	videos  lane // one worker: a video's frames keep every core busy already
	results chan watchDone

	timer   *time.Timer
	timerAt time.Time // zero: not armed
}

func newWatcher(det video.Detector, inputs []string, out string, o Options) (*watcher, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%w: no folders to watch", batch.ErrUsage)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	w := &watcher{det: det, o: o, log: o.Log, files: map[string]*watchFile{}, wait: map[*watchFile]bool{},
		others: map[string]bool{}, claims: map[string]string{}, dirs: map[string]bool{}}
	var absOut string
	if out != "" {
		var err error
		if absOut, err = filepath.Abs(out); err != nil {
			return nil, err
		}
		w.skip = append(w.skip, absOut)
	}
	for _, in := range inputs {
		if err := w.addRoot(in, out, absOut, len(inputs) > 1); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *watcher) run(ctx context.Context) (batch.Summary, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return batch.Summary{}, fmt.Errorf("watch: %w", err)
	}
	defer fsw.Close()
	w.fsw = fsw
	w.timer = time.NewTimer(time.Hour)
	w.timer.Stop()
	defer w.timer.Stop()

	w.ctx = ctx
	w.made = newSources()
	wg := w.startWorkers()
	for _, r := range w.roots {
		w.walk(r, r.in)
	}
	w.removeStaleTemps()
	w.sweep(time.Now())
	w.log.Info("watching", "folders", len(w.roots), "files", len(w.files), "settle_ms", w.o.Settle.Milliseconds())
	if w.o.Ready != nil {
		w.o.Ready()
	}
	w.loop(ctx)
	// Finish the files in progress; those still queued are left.
	close(w.images.ch)
	close(w.videos.ch)
	go func() { wg.Wait(); close(w.results) }()
	for d := range w.results {
		w.finish(d)
	}
	if err := w.made.save(); err != nil {
		w.log.Warn("cannot record what the outputs were made from; they are redone at the next start", "err", err)
	}
	return w.summary(), nil
}

// startWorkers starts o.Jobs image workers and one video worker; the
// returned group is done once their lanes' channels are closed and they
// have sent their last outcomes.
func (w *watcher) startWorkers() *sync.WaitGroup {
	w.images.ch, w.videos.ch = make(chan watchJob), make(chan watchJob)
	w.results = make(chan watchDone, w.o.Jobs+1)
	var wg sync.WaitGroup
	worker := func(ch <-chan watchJob) {
		defer wg.Done()
		for j := range ch {
			w.results <- w.work(j)
		}
	}
	for range w.o.Jobs {
		wg.Add(1)
		go worker(w.images.ch)
	}
	wg.Add(1)
	go worker(w.videos.ch)
	return &wg
}

// loop is the event loop: it takes file events, timer ticks and workers'
// outcomes, and hands queued files to free workers, until ctx ends or the
// file watcher closes.
func (w *watcher) loop(ctx context.Context) {
	for {
		imageCh, image := w.offer(&w.images)
		videoCh, video := w.offer(&w.videos)
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.event(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("file events were lost; looking at every folder again", "err", err)
				for _, r := range w.roots {
					w.walk(r, r.in)
				}
				w.sweep(time.Now())
				continue
			}
			w.log.Warn("watching folders", "err", err)
		case <-w.timer.C:
			w.timerAt = time.Time{}
			w.sweep(time.Now())
		case imageCh <- image:
			w.taken(&w.images)
		case videoCh <- video:
			w.taken(&w.videos)
		case d := <-w.results:
			w.finish(d)
		}
	}
}

func (w *watcher) event(ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	r := w.rootOf(p)
	if r == nil || p == r.in || ignoredName(filepath.Base(p)) || w.excluded(p) {
		return
	}
	now := time.Now()
	gone := ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
	if f := w.files[p]; f != nil && !gone {
		w.pend(f, now.Add(w.o.Settle)) // written to again: wait for it to settle
		return
	}
	st, err := os.Stat(p)
	if err != nil { // removed or renamed away
		if w.dirs[p] {
			w.unwatch(p)
		}
		if f := w.files[p]; f != nil {
			w.unpend(f)
		}
		for out, in := range w.claims {
			if in == p {
				delete(w.claims, out)
			}
		}
		return
	}
	switch {
	case st.IsDir():
		if ev.Has(fsnotify.Create) {
			// A new folder: files may have landed in it before its watch.
			w.walk(r, p)
			w.sweep(now)
		}
	case !st.Mode().IsRegular():
	case !imageio.IsImage(p) && !imageio.IsVideo(p):
		w.others[p] = true
	default:
		w.pend(w.file(r, p), now.Add(w.o.Settle))
	}
}

// summary counts the last outcome of every file.
func (w *watcher) summary() batch.Summary {
	var s batch.Summary
	for _, f := range w.files {
		if f.seen {
			s.Add(f.result)
		}
	}
	s.NotProcessed = len(w.others)
	return s
}
