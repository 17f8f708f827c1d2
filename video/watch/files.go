package watch

import (
	"os"
	"sort"
	"time"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/imageio"
)

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
	if out := w.outputPath(r, p); !w.o.Overwrite && w.upToDate(r, p, out) {
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

// upToDate reports whether out is the anonymized copy of in's present
// content: written after in was last modified (UpToDate), or made from
// content with the same sha256 as recorded (in was only touched since).
func (w *watcher) upToDate(r *watchRoot, in, out string) bool {
	if UpToDate(in, out) {
		return true
	}
	if st, err := os.Stat(out); err != nil || !st.Mode().IsRegular() {
		return false
	}
	if h, err := fsutil.FileSHA256(in); err == nil && w.made.made(r.out, out, h) {
		w.log.Info("unchanged since its output was made (only touched); not redone", "file", in)
		return true
	}
	return false
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
