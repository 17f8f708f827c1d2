package watch

import (
	"fmt"
	"os"
	"time"

	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/imageio"
)

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
		if r.Output != "" && (r.Status == batch.StatusDone || r.Status == batch.StatusHiddenWhole) {
			w.made.record(f.root.out, r.Output, d.hash)
		}
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
