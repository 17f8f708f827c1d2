package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/fsutil"
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

// UpToDate reports whether out exists and was written no earlier than in
// was last modified: it is the anonymized copy of in's present content.
func UpToDate(in, out string) bool {
	si, err := os.Stat(in)
	if err != nil {
		return false
	}
	so, err := os.Stat(out)
	if err != nil || !so.Mode().IsRegular() {
		return false
	}
	return !so.ModTime().Before(si.ModTime())
}

// ignoredName reports whether a file or folder name is one a watch never
// reads: hidden names (the temporary files fsutil.WriteFileAtomic writes among
// them) and the names tools give files still arriving.
func ignoredName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return true
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".swp":
		return true
	}
	return false
}

// watchRoot is one watched input folder and the folder its tree goes to.
type watchRoot struct {
	in, out string // absolute
}

// stamp is what a stat says about a file's content.
type stamp struct {
	fi os.FileInfo // nil: none
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi}, nil
}

func (s stamp) same(o stamp) bool {
	return s.fi != nil && o.fi != nil && s.fi.Size() == o.fi.Size() &&
		s.fi.ModTime().Equal(o.fi.ModTime()) && os.SameFile(s.fi, o.fi)
}

// watchFile is the state of one input file. It is owned by the watcher's
// event loop.
type watchFile struct {
	path string
	root *watchRoot
	// Waiting to settle: pending with a due time; look is the stat at the
	// last look (a second look with the same stat also settles it).
	pending bool
	seq     uint64 // arrival order: settled files are taken first come, first served
	due     time.Time
	look    stamp
	queued  bool // settled, waiting for a worker
	running bool

	// The last outcome: the content it was for (hash "" when found up to
	// date at start, not read) and the result.
	seen   bool
	stamp  stamp
	hash   string
	result batch.ImageResult
}

// lane is a queue of settled files and the workers that take them.
type lane struct {
	ch    chan watchJob
	queue []string
	head  *watchJob // the next job, built when first offered
}

type watchJob struct {
	path string
	task batch.Task
	prev string // hash of the content last processed
	opts batch.Options
}

type watchDone struct {
	job       watchJob
	gone      bool // the file is no longer there
	unchanged bool // same content as last processed: nothing done
	changed   bool // changed while it was read: to be done again
	stopped   bool // a video stopped as the watch ended
	hash      string
	stamp     stamp
	result    batch.ImageResult
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
		absIn, err := filepath.Abs(in)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(absIn)
		if err != nil {
			return nil, fmt.Errorf("%w: watch %s: %v", batch.ErrUsage, in, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%w: watch %s: not a folder (--watch takes folders)", batch.ErrUsage, in)
		}
		root := absIn + "_anonymized"
		if out != "" {
			root = absOut
			if len(inputs) > 1 {
				root = filepath.Join(absOut, filepath.Base(absIn))
			}
		}
		if root == absIn || absOut == absIn {
			return nil, fmt.Errorf("%w: output folder %s is the input folder; choose another --out", batch.ErrUsage, root)
		}
		for _, r := range w.roots {
			if within(absIn, r.in) || within(r.in, absIn) {
				return nil, fmt.Errorf("%w: watch: folders %s and %s overlap; name only the outer one", batch.ErrUsage, r.in, absIn)
			}
		}
		w.roots = append(w.roots, &watchRoot{in: absIn, out: root})
		w.skip = append(w.skip, root)
	}
	return w, nil
}

// within reports whether path is dir or lies under it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

func (w *watcher) excluded(path string) bool {
	for _, s := range w.skip {
		if within(path, s) {
			return true
		}
	}
	return false
}

func (w *watcher) rootOf(path string) *watchRoot {
	for _, r := range w.roots {
		if within(path, r.in) {
			return r
		}
	}
	return nil
}

func (w *watcher) outputPath(r *watchRoot, in string) string {
	rel, err := filepath.Rel(r.in, in)
	if err != nil {
		rel = filepath.Base(in)
	}
	p := filepath.Join(r.out, rel)
	if imageio.IsImage(in) {
		p = batch.WithFormat(p, w.o.Format)
	}
	return p
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

	for _, r := range w.roots {
		w.walk(r, r.in)
	}
	w.removeStaleTemps()
	w.sweep(time.Now())
	w.log.Info("watching", "folders", len(w.roots), "files", len(w.files), "settle_ms", w.o.Settle.Milliseconds())
	if w.o.Ready != nil {
		w.o.Ready()
	}

loop:
	for {
		imageCh, image := w.offer(&w.images)
		videoCh, video := w.offer(&w.videos)
		select {
		case <-ctx.Done():
			break loop
		case ev, ok := <-fsw.Events:
			if !ok {
				break loop
			}
			w.event(ev)
		case err, ok := <-fsw.Errors:
			if !ok {
				break loop
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
	// Finish the files in progress; those still queued are left.
	close(w.images.ch)
	close(w.videos.ch)
	go func() { wg.Wait(); close(w.results) }()
	for d := range w.results {
		w.finish(d)
	}
	return w.summary(), nil
}

// removeStaleTemps removes the temporary files a killed run left in the
// output folders of the files found at start (batch.RemoveStaleTemps).
func (w *watcher) removeStaleTemps() {
	var tasks []batch.Task
	for p, f := range w.files {
		tasks = append(tasks, batch.Task{Input: p, Output: w.outputPath(f.root, p)})
	}
	batch.RemoveStaleTemps(batch.OutputDirs(tasks), batch.StaleTempAge, w.log)
}

// walk looks at every file under dir (a folder in r), watching each folder
// before listing it, so that nothing created meanwhile is missed.
func (w *watcher) walk(r *watchRoot, dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				w.log.Error("cannot read folder", "dir", p, "err", err)
			}
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != r.in && (ignoredName(d.Name()) || w.excluded(p)) {
				return fs.SkipDir
			}
			if err := w.fsw.Add(p); err != nil {
				w.log.Error("cannot watch folder; files arriving in it are missed", "dir", p, "err", err)
			} else {
				w.dirs[p] = true
			}
			return nil
		}
		if ignoredName(d.Name()) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		w.found(r, p)
		return nil
	})
}

// found takes note of a file met in a walk.
func (w *watcher) found(r *watchRoot, p string) {
	if !imageio.IsImage(p) && !imageio.IsVideo(p) {
		w.others[p] = true
		return
	}
	f := w.file(r, p)
	if f.pending || f.queued {
		return // on its way already
	}
	st, err := stampOf(p)
	if err != nil {
		return
	}
	if f.running {
		w.pend(f, time.Time{}) // looked at again once done
		return
	}
	if f.seen {
		if !st.same(f.stamp) {
			w.pend(f, time.Time{})
		}
		return
	}
	if out := w.outputPath(r, p); !w.o.Overwrite && UpToDate(p, out) {
		w.claims[out] = p
		f.seen, f.stamp = true, st
		f.result = batch.ImageResult{Input: p, Output: out, Status: batch.StatusSkipped, Detections: []convert.Detection{}}
		if w.o.Report != nil {
			w.o.Report(f.result)
		}
		return
	}
	w.pend(f, time.Time{})
}

func (w *watcher) file(r *watchRoot, p string) *watchFile {
	f := w.files[p]
	if f == nil {
		f = &watchFile{path: p, root: r}
		w.files[p] = f
	}
	return f
}

// pend makes f wait to settle, looking at it first at due.
func (w *watcher) pend(f *watchFile, due time.Time) {
	if !f.pending {
		w.seq++
		f.seq = w.seq
	}
	f.pending, f.due, f.look = true, due, stamp{}
	if !f.running && !f.queued {
		w.wait[f] = true
		w.arm(due)
	}
}

// unpend takes f off the files waiting to settle.
func (w *watcher) unpend(f *watchFile) {
	f.pending = false
	delete(w.wait, f)
}

// arm makes the timer fire by at (plus a little slack, so that files
// settling close together are taken in one sweep).
func (w *watcher) arm(at time.Time) {
	at = at.Add(min(w.o.Settle/8, 25*time.Millisecond))
	if !w.timerAt.IsZero() && !at.Before(w.timerAt) {
		return
	}
	w.timerAt = at
	w.timer.Reset(max(time.Until(at), 0))
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

// unwatch stops watching dir, a folder removed or renamed away, and the
// folders below it. A folder renamed keeps its inotify watches, under its
// old name: adding its new name would find them and not rename them, and
// the kernel drops the moved folder's own watch, so its new name (which
// the Create event for it walks and watches afresh) would go unwatched.
func (w *watcher) unwatch(dir string) {
	for d := range w.dirs {
		if within(d, dir) {
			delete(w.dirs, d)
			_ = w.fsw.Remove(d) // gone already when the folder was deleted
		}
	}
}

// sweep looks at the files due: one that has settled joins the queue, the
// others wait on.
func (w *watcher) sweep(now time.Time) {
	var ready []*watchFile
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for f := range w.wait {
		if f.due.After(now) {
			later(f.due)
			continue
		}
		st, err := stampOf(f.path)
		if err != nil {
			w.unpend(f) // gone
			continue
		}
		if st.fi.Size() == 0 {
			// Created, not written yet: the write to come brings it back.
			w.unpend(f)
			continue
		}
		// Settled: nothing written for Settle (the events said so up to
		// now, the modification time agrees), or the same size and time as
		// at the last look (a clock ahead of ours).
		if now.Sub(st.fi.ModTime()) >= w.o.Settle || st.same(f.look) {
			ready = append(ready, f)
			continue
		}
		f.look = st
		f.due = now.Add(w.o.Settle)
		if m := st.fi.ModTime().Add(w.o.Settle); m.After(now) && m.Before(f.due) {
			f.due = m
		}
		later(f.due)
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].seq < ready[j].seq })
	for _, f := range ready {
		w.unpend(f)
		f.queued = true
		l := &w.images
		if imageio.IsVideo(f.path) {
			l = &w.videos
		}
		l.queue = append(l.queue, f.path)
	}
	if !next.IsZero() {
		w.arm(next)
	}
}

// offer returns l's channel and its next job, or a nil channel when l has
// nothing queued.
func (w *watcher) offer(l *lane) (chan watchJob, watchJob) {
	if len(l.queue) == 0 {
		return nil, watchJob{}
	}
	if l.head == nil {
		j := w.job(l.queue[0])
		l.head = &j
	}
	return l.ch, *l.head
}

// taken notes that a worker took l's next job.
func (w *watcher) taken(l *lane) {
	f := w.files[l.head.path]
	f.queued, f.running = false, true
	l.queue, l.head = l.queue[1:], nil
}

// job makes the job for the file at p.
func (w *watcher) job(p string) watchJob {
	f := w.files[p]
	out := w.outputPath(f.root, p)
	t := batch.Task{Input: p, Output: out, Kind: batch.KindImage}
	if imageio.IsVideo(p) {
		t.Kind = batch.KindVideo
	}
	if prev, ok := w.claims[out]; ok && prev != p {
		if _, err := os.Stat(prev); err == nil {
			t.Err = fmt.Errorf("output %s would also be written for %s; rename one of them or use --format keep", out, prev)
		}
	}
	if t.Err == nil {
		w.claims[out] = p
	}
	o := w.o.Options
	if w.o.Current != nil {
		o = w.o.Current()
		o.Format, o.Jobs, o.Log = w.o.Format, w.o.Jobs, w.o.Log
	}
	o.Overwrite = true // the watch decided: the output is to be (re)done
	o.Progress = nil
	return watchJob{path: p, task: t, prev: f.hash, opts: o}
}

// work runs on a worker: it processes the file unless its content is what
// was last processed, and says whether it changed meanwhile.
func (w *watcher) work(j watchJob) watchDone {
	d := watchDone{job: j}
	before, err := stampOf(j.path)
	if err != nil {
		d.gone = true
		return d
	}
	d.stamp = before
	d.hash, _ = fsutil.FileSHA256(j.path) // "" on error: ProcessOne reports it
	if d.hash != "" && d.hash == j.prev {
		d.unchanged = true
		return d
	}
	d.result = batch.Process(w.ctx, w.det, j.task, j.opts)
	if w.ctx.Err() != nil && j.task.IsVideo() && d.result.Status == batch.StatusFailed {
		d.stopped = true // nothing written; done again at the next start
		return d
	}
	after, err := stampOf(j.path)
	d.changed = err != nil || !after.same(before)
	return d
}

// finish takes a worker's outcome.
func (w *watcher) finish(d watchDone) {
	f := w.files[d.job.path]
	f.running = false
	switch {
	case d.gone:
	case d.stopped:
		w.log.Info("stopped; it is done again at the next start", "file", d.job.path)
	case d.unchanged:
		f.stamp = d.stamp
		w.log.Debug("unchanged since last time; not redone", "file", d.job.path)
	case d.changed:
		w.log.Debug("changed while it was read; doing it again", "file", d.job.path)
		w.pend(f, time.Now().Add(w.o.Settle))
	default:
		f.seen, f.stamp, f.hash, f.result = true, d.stamp, d.hash, d.result
		r := d.result
		if r.Error != "" {
			w.log.Error("cannot anonymize", "file", r.Input, "status", r.Status, "err", r.Error)
		} else {
			model, regions := "", len(r.Detections)
			if r.Model != nil {
				model = r.Model.Name
			}
			if r.Video != nil {
				regions += r.Video.Regions
			}
			w.log.Info("anonymized", "file", r.Input, "output", r.Output, "regions", regions, "ms", r.Millis, "model", model)
		}
		if w.o.Report != nil {
			w.o.Report(r)
		}
	}
	if f.pending {
		w.wait[f] = true
		w.arm(f.due)
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
