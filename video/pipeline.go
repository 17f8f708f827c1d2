package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video/hide"
)

// ErrDetectTimeout is wrapped in the FrameResult.Err of a frame whose
// detection did not finish within PipelineOptions.Timeout.
var ErrDetectTimeout = errors.New("detection timed out")

// PipelineOptions configure RunPipeline. The zero value is valid.
type PipelineOptions struct {
	// Workers is how many frames are detected and hidden at once; 0 means
	// runtime.NumCPU().
	Workers int
	// Queue is the capacity of the channels between the stages; 0 means
	// 2*Workers. At most Queue+Workers frames are in flight (read and not
	// yet written or closed), however slow one frame is; with Lookahead,
	// Lookahead+1 more.
	Queue int
	// Hide says how regions (and whole frames, on failure) are hidden; a
	// model that carries its own style (convert.ModelInfo.Style) hides its
	// detections with that.
	Hide hide.Options
	// Persist keeps hiding a detection's region for this many frames after
	// it was last seen, moved with its motion and grown a little per
	// frame (temporal safety; 0: off). See Tracker.
	Persist int
	// Lookahead (for files, where latency does not matter) also hides a
	// region in up to this many frames before the frame where it is first
	// seen, moved back along its motion (0: off). It delays output by
	// Lookahead+1 frames: a frame is finished once the frame Lookahead+1
	// after it has been detected.
	Lookahead int
	// DropOnError drops a frame the detector failed on (it is closed, not
	// written) instead of hiding it whole. Either way it is counted.
	DropOnError bool
	// Timeout bounds each frame's detection; 0 means no bound. A frame
	// whose detection times out is treated like one the detector failed on
	// (hidden whole, or dropped), with ErrDetectTimeout in its result. The
	// late call keeps the original Mat, which is closed when it returns;
	// the frame goes on as a copy. At most Workers timed-out calls may be
	// running at once: while that many are, further frames are failed at
	// once rather than handed to a detector that is not answering.
	Timeout time.Duration
	// OnDrop, when set, is called (from the writer) for each frame dropped
	// as it is counted in PipelineStats.Dropped, so a live run's metrics
	// see drops as they happen.
	OnDrop func()
}

// PipelineStats count what a RunPipeline call did.
type PipelineStats struct {
	Read        int // frames read from the source
	Written     int // frames the sink accepted
	HiddenWhole int // frames hidden whole because detection (or hiding) failed or timed out
	Dropped     int // frames not written because detection failed or timed out (DropOnError), or a frame could not be hidden at all
	Detections  int // detections hidden, over all frames
	Persisted   int // regions hidden by Persist in frames whose detections missed them
	LookedAhead int // regions hidden by Lookahead in frames before their first detection
	Elapsed     time.Duration
}

// RunPipeline reads every frame from src, detects and hides concurrently,
// and writes the frames to sink in source order (the order src.Read
// returned them; Frame.Index and PTS pass through untouched), until src
// returns io.EOF, ctx is cancelled, or src or sink returns an error.
//
// Stages: one goroutine reads (src.Read), Workers goroutines detect and
// hide the detections, and the calling goroutine writes, reordering frames
// into the order they were read; so decoding, inference, hiding and
// encoding overlap. With Persist or Lookahead, the writer also runs a
// Tracker over the frames in order and hides the regions it adds (few, and
// only in frames where the detector missed a face), holding frames back
// as long as look-ahead may still add to them.
// A slow stage holds the others back (at most Queue+Workers frames are in
// flight, plus Lookahead+1 with look-ahead) rather than dropping frames: a
// live source that must never block is wrapped in a stage that drops and
// counts what the pipeline cannot take.
//
// It never writes a frame unhidden: a frame whose detection failed or
// timed out is hidden whole (FrameResult.HiddenWhole and Err set) or, with
// DropOnError, closed and not written. A frame that cannot even be hidden
// whole (an empty Mat, say) is dropped too. Such a frame updates no track
// (tracks age across it). The regions a Tracker adds are appended to
// FrameResult.Detections with their Source set (convert.SourcePersist or
// SourceLookahead) and counted in Persisted and LookedAhead, not in
// Detections.
//
// Ownership: every frame src returns belongs to the pipeline until it is
// handed to sink.Write, which then owns it (even when Write fails); frames
// that are dropped, or still in flight when the pipeline stops, are closed
// by the pipeline. A Frame returned by src.Read together with an error is
// ignored (a Source returns the zero Frame then). RunPipeline closes
// neither src nor sink.
//
// On an error from src or sink it returns that error (wrapped, naming the
// frame); on cancellation, ctx.Err(). Frames read but not yet written are
// then closed. A src.Read or, with Timeout 0, a detection in progress is
// waited for; a detection with a Timeout is not, and may outlive the call
// (closing its frame when it returns), so a detector must stay usable
// until its in-flight calls finish (infer.Model.Close waits for them).
func RunPipeline(ctx context.Context, src Source, det Detector, sink Sink, o PipelineOptions) (PipelineStats, error) {
	start := time.Now()
	if err := o.Hide.Validate(); err != nil {
		return PipelineStats{}, fmt.Errorf("pipeline: %w", err)
	}
	if o.Timeout < 0 {
		return PipelineStats{}, fmt.Errorf("pipeline: timeout %v: negative", o.Timeout)
	}
	var tr *Tracker
	if o.Persist != 0 || o.Lookahead != 0 || revisits(det) {
		var err error
		if tr, err = NewTracker(TrackOptions{Persist: o.Persist, Lookahead: o.Lookahead}); err != nil {
			return PipelineStats{}, fmt.Errorf("pipeline: %w", err)
		}
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Queue <= 0 {
		o.Queue = 2 * o.Workers
	}
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &pipeline{
		src: src, det: det, sink: sink, o: o, tr: tr, styles: hide.NewStyles(o.Hide),
		ctx: inner, cancel: cancel,
		window:  make(chan struct{}, o.Queue+o.Workers+tr.delay()),
		maxLate: int64(o.Workers),
	}

	in := make(chan job, o.Queue)
	out := make(chan done, o.Queue)
	var read int
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		read = p.read(in)
	}()
	var workers sync.WaitGroup
	for range o.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			p.work(in, out)
		}()
	}
	go func() {
		workers.Wait()
		close(out)
	}()
	st := p.write(out)
	<-readerDone
	st.Read = read

	err := p.firstErr()
	if err == nil && p.stopped.Load() {
		err = ctx.Err()
	}
	st.Elapsed = time.Since(start)
	return st, err
}

// pipeline is the state one RunPipeline call shares between its stages.
type pipeline struct {
	src  Source
	det  Detector
	sink Sink
	o    PipelineOptions

	// tr follows faces across frames (nil: Persist and Lookahead off);
	// held are the frames, in order, it has not finished yet. Only the
	// writer uses them.
	tr   *Tracker
	held []done

	styles *hide.Styles // the styles the models carry, as options

	ctx    context.Context // cancelled on the first error, or with the caller's
	cancel context.CancelFunc

	errMu sync.Mutex
	err   error // the first error from src or sink

	// stopped is set when a stage stops early or discards a frame because
	// ctx was done.
	stopped atomic.Bool

	// window holds one token per frame read and not yet written or
	// closed: the reader takes one before each Read, and whoever ends the
	// frame's trip gives it back. It bounds the reorder buffer and the
	// frames the tracker holds back.
	window chan struct{}

	late    atomic.Int64 // timed-out detections still running
	maxLate int64
}

// job is a frame on its way to a worker; seq is its position in the order
// the frames were read.
type job struct {
	seq int
	f   Frame
}

// done is a worker's outcome for one frame. A dropped frame's Mat is
// already closed; the writer still needs its seq to keep the order.
type done struct {
	seq     int
	f       Frame
	r       FrameResult
	dropped bool
}

func (p *pipeline) fail(err error) {
	p.errMu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.errMu.Unlock()
	p.cancel()
}

func (p *pipeline) firstErr() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

// release gives back the window token of a frame that has left the pipeline.
func (p *pipeline) release() { <-p.window }

// discard closes a frame the pipeline stopped before writing.
func (p *pipeline) discard(m *gocv.Mat) {
	p.stopped.Store(true)
	_ = m.Close()
	p.release()
}

// read is the reader stage: it sends every frame of src to in, then closes
// in. It returns how many frames it read.
func (p *pipeline) read(in chan<- job) int {
	defer close(in)
	for seq := 0; ; seq++ {
		select {
		case p.window <- struct{}{}:
		case <-p.ctx.Done():
			p.stopped.Store(true)
			return seq
		}
		if p.ctx.Err() != nil { // both cases were ready
			p.release()
			p.stopped.Store(true)
			return seq
		}
		f, err := p.src.Read()
		if err != nil {
			p.release()
			if !errors.Is(err, io.EOF) {
				p.fail(fmt.Errorf("read frame %d: %w", seq, err))
			}
			return seq
		}
		select {
		case in <- job{seq: seq, f: f}:
		case <-p.ctx.Done():
			p.discard(&f.Mat)
			return seq + 1
		}
	}
}

// work is a worker: it detects and hides each frame from in and sends the
// outcome to out. Once ctx is done it only closes what it receives.
func (p *pipeline) work(in <-chan job, out chan<- done) {
	for j := range in {
		if p.ctx.Err() != nil {
			p.discard(&j.f.Mat)
			continue
		}
		d, ok := p.process(j)
		if !ok { // stopped during detection; the frame is gone
			p.stopped.Store(true)
			p.release()
			continue
		}
		out <- d // the writer drains out until it is closed
	}
}

// process detects and hides one frame. It returns false, having given the
// frame to a late detection, when ctx was done while it waited.
func (p *pipeline) process(j job) (done, bool) {
	d := done{seq: j.seq, f: j.f}
	m, dets, info, err := p.detect(j.f.Mat)
	if errors.Is(err, errStopped) {
		return d, false
	}
	d.f.Mat = m
	d.r.Model = info
	if err == nil {
		d.r.Detections = dets
		if err = hide.Detections(&d.f.Mat, dets, p.o.Hide, p.styles.ForInfo(info)); err == nil {
			return d, true
		}
		err = fmt.Errorf("hide: %w", err) // the frame may be partly hidden
	}
	p.failClosed(&d, err)
	return d, true
}

// failClosed hides the whole of d's frame, or closes it and marks it
// dropped (DropOnError, or when even that fails), and sets d.r.Err: never
// write what the detector could not look at.
func (p *pipeline) failClosed(d *done, err error) {
	d.r.Err = err
	if !p.o.DropOnError {
		herr := hide.All(&d.f.Mat, p.o.Hide)
		if herr == nil {
			d.r.HiddenWhole = true
			return
		}
		d.r.Err = errors.Join(err, fmt.Errorf("hide whole frame: %w", herr))
	}
	_ = d.f.Mat.Close()
	d.dropped = true
}

// errStopped tells process that ctx was done during a detection.
var errStopped = errors.New("pipeline stopped")

type detectResult struct {
	dets []convert.Detection
	info convert.ModelInfo
	err  error
}

// detect runs the detector on m within the timeout. It returns the Mat the
// frame goes on with: m itself, or, when the detection timed out, a copy
// (the late call keeps reading m, and m is closed once it returns).
func (p *pipeline) detect(m gocv.Mat) (gocv.Mat, []convert.Detection, convert.ModelInfo, error) {
	if p.o.Timeout == 0 {
		dets, info, err := p.det.DetectInfo(m)
		return m, dets, info, wrapDetect(err)
	}
	if n := p.late.Load(); n >= p.maxLate {
		return m, nil, p.det.Info(), fmt.Errorf("detect: %w: %d earlier detections timed out and are still running", ErrDetectTimeout, n)
	}
	res := make(chan detectResult, 1) // the late call never blocks on it
	go func() {
		dets, info, err := p.det.DetectInfo(m)
		res <- detectResult{dets, info, err}
	}()
	timer := time.NewTimer(p.o.Timeout)
	defer timer.Stop()
	abandon := func() {
		p.late.Add(1)
		go func() {
			<-res
			_ = m.Close()
			p.late.Add(-1)
		}()
	}
	select {
	case r := <-res:
		return m, r.dets, r.info, wrapDetect(r.err)
	case <-timer.C:
		c := m.Clone() // the detector only reads m, so copying it now is safe
		abandon()
		return c, nil, p.det.Info(), fmt.Errorf("detect: %w after %v", ErrDetectTimeout, p.o.Timeout)
	case <-p.ctx.Done():
		abandon()
		return gocv.Mat{}, nil, convert.ModelInfo{}, errStopped
	}
}

// revisits tells whether det marks detections to be kept until it looks
// again (a Schedule with tiles): they need a tracker even with Persist 0.
func revisits(det Detector) bool {
	r, ok := det.(interface{ Revisits() bool })
	return ok && r.Revisits()
}

func wrapDetect(err error) error {
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	return nil
}

// write is the writer stage: it puts the workers' outcomes back in read
// order and hands each frame to the sink, until out is closed.
func (p *pipeline) write(out <-chan done) PipelineStats {
	var st PipelineStats
	pending := make(map[int]done, cap(p.window))
	next := 0
	for d := range out {
		switch {
		case d.dropped:
			p.drop(&st)
		case d.r.HiddenWhole:
			st.HiddenWhole++
		}
		if !d.dropped {
			st.Detections += len(d.r.Detections)
		}
		pending[d.seq] = d
		for {
			d, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			p.track(d, &st)
		}
	}
	// Left only when a frame before them never came (ctx was done).
	for _, d := range pending {
		if !d.dropped {
			p.discard(&d.f.Mat)
		}
	}
	if p.tr != nil {
		if p.ctx.Err() == nil {
			p.tr.Flush()
			p.finishHeld(&st)
		}
		for _, d := range p.held { // stopped: close what is left
			if d.dropped {
				p.stopped.Store(true)
				p.release()
			} else {
				p.discard(&d.f.Mat)
			}
		}
		p.held = nil
	}
	return st
}

// drop counts a dropped frame.
func (p *pipeline) drop(st *PipelineStats) {
	st.Dropped++
	if p.o.OnDrop != nil {
		p.o.OnDrop()
	}
}

// track hands the next frame in order to the tracker, if there is one, and
// emits the frames it has finished; without one it emits d at once.
func (p *pipeline) track(d done, st *PipelineStats) {
	if p.tr == nil {
		p.emit(d, st)
		return
	}
	p.tr.Add(d.r.Detections, d.dropped || d.r.HiddenWhole)
	p.held = append(p.held, d)
	p.finishHeld(st)
}

// finishHeld emits the held frames the tracker has finished, hiding the
// regions it added to each.
func (p *pipeline) finishHeld(st *PipelineStats) {
	for {
		_, extras, ok := p.tr.Next()
		if !ok {
			return
		}
		d := p.held[0]
		p.held[0] = done{}
		p.held = p.held[1:]
		if len(extras) > 0 && !d.dropped && !d.r.HiddenWhole && p.ctx.Err() == nil {
			p.hideExtras(&d, extras, st)
		}
		p.emit(d, st)
	}
}

// hideExtras hides the tracker's regions in d's frame and records them in
// its result; if that fails, the frame fails closed.
func (p *pipeline) hideExtras(d *done, extras []convert.Detection, st *PipelineStats) {
	if err := hide.Detections(&d.f.Mat, extras, p.o.Hide, p.styles.ForInfo(d.r.Model)); err != nil {
		// The frame may be partly hidden.
		p.failClosed(d, fmt.Errorf("hide tracked regions: %w", err))
		if d.dropped {
			p.drop(st)
			st.Detections -= len(d.r.Detections) // counted when it came
		} else {
			st.HiddenWhole++
		}
		return
	}
	d.r.Detections = append(d.r.Detections[:len(d.r.Detections):len(d.r.Detections)], extras...)
	for _, e := range extras {
		if e.Source == convert.SourceLookahead {
			st.LookedAhead++
		} else {
			st.Persisted++
		}
	}
}

// emit ends the trip of the next frame in order.
func (p *pipeline) emit(d done, st *PipelineStats) {
	switch {
	case d.dropped:
		p.release()
	case p.ctx.Err() != nil:
		p.discard(&d.f.Mat)
	default:
		err := p.sink.Write(d.f, d.r) // the sink owns d.f from here on
		p.release()
		if err != nil {
			p.fail(fmt.Errorf("write frame %d: %w", d.f.Index, err))
			return
		}
		st.Written++
	}
}
