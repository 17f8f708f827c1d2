package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/video"
)

// Counts are what a watch or a live run did so far, as the counters show
// them: frames read and written (an image counts as one frame), frames
// hidden whole after a detector failure, frames dropped (by the capture
// queue when detection was behind, or after a detector failure with
// video.on_error = "drop") and reconnects of a live source.
type Counts struct {
	FramesIn, FramesOut           int64
	HiddenWhole                   int64
	DroppedQueue, DroppedDetector int64
	Reconnects                    int64
}

func (c Counts) plus(d Counts) Counts {
	return Counts{
		FramesIn: c.FramesIn + d.FramesIn, FramesOut: c.FramesOut + d.FramesOut, HiddenWhole: c.HiddenWhole + d.HiddenWhole,
		DroppedQueue: c.DroppedQueue + d.DroppedQueue, DroppedDetector: c.DroppedDetector + d.DroppedDetector,
		Reconnects: c.Reconnects + d.Reconnects,
	}
}

// Run is the metrics and the readiness of a watch or a live run. Its
// methods are safe for concurrent use; a nil *Run does nothing, so a run
// without --metrics needs no checks.
type Run struct {
	// Models follow the set at work (Follow).
	Models *Models
	reg    *prometheus.Registry

	mu   sync.Mutex
	base Counts        // added, and those of sources detached
	poll func() Counts // the live source at work (nil: none)

	latency prometheus.Histogram
	files   *prometheus.CounterVec
	ready   atomic.Pointer[func() (bool, string)]
}

// NewRun makes a run's metrics; it is not ready until SetReady.
func NewRun() *Run {
	r := &Run{
		Models: NewModels(),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "anonymize_detect_duration_seconds", Help: "Time the detector took per image or frame (all models).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anonymize_files_total", Help: "Files a watch finished, by outcome (done, skipped, failed, hidden-whole, dropped).",
		}, []string{"status"}),
	}
	r.SetReady(func() (bool, string) { return false, "starting" })
	r.reg = NewRegistry(append(r.Models.Collectors(), r.latency, r.files, countsCollector{r},
		ReadyGauge(func() bool { ok, _ := r.Ready(); return ok }))...)
	return r
}

// Add counts c on top of what was counted.
func (r *Run) Add(c Counts) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.base = r.base.plus(c)
	r.mu.Unlock()
}

// File counts a file a watch finished, with its outcome.
func (r *Run) File(status string) {
	if r != nil {
		r.files.WithLabelValues(status).Inc()
	}
}

// Attach shows poll's counts (a live source's, read at each scrape) on
// top of the others; detach adds its last counts for good and stops
// reading it.
func (r *Run) Attach(poll func() Counts) (detach func()) {
	if r == nil {
		return func() {}
	}
	r.mu.Lock()
	r.poll = poll
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.poll != nil {
			r.base = r.base.plus(r.poll())
			r.poll = nil
		}
	}
}

// Counts are the counts so far.
func (r *Run) Counts() Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.base
	if r.poll != nil {
		c = c.plus(r.poll())
	}
	return c
}

// SetReady sets what /readyz answers: ready, else why not.
func (r *Run) SetReady(ready func() (bool, string)) {
	if r != nil {
		r.ready.Store(&ready)
	}
}

// Ready says whether the run is ready, else why not.
func (r *Run) Ready() (bool, string) { return (*r.ready.Load())() }

// Timed is d with each detection's time observed in the latency
// histogram (d itself when r is nil).
func (r *Run) Timed(d video.Detector) video.Detector {
	if r == nil {
		return d
	}
	return timedDetector{d, r.latency}
}

// timedDetector times each call of its detector.
type timedDetector struct {
	video.Detector
	h prometheus.Histogram
}

func (t timedDetector) Detect(img gocv.Mat) ([]convert.Detection, error) {
	start := time.Now()
	defer func() { t.h.Observe(time.Since(start).Seconds()) }()
	return t.Detector.Detect(img)
}

func (t timedDetector) DetectInfo(img gocv.Mat) ([]convert.Detection, convert.ModelInfo, error) {
	start := time.Now()
	defer func() { t.h.Observe(time.Since(start).Seconds()) }()
	return t.Detector.DetectInfo(img)
}

// DetectScaled times a call that tells the detector the frame was shrunk
// (video.ScaledDetector), so size-aware thresholds stay at source heights.
func (t timedDetector) DetectScaled(img gocv.Mat, scale float32) ([]convert.Detection, convert.ModelInfo, error) {
	start := time.Now()
	defer func() { t.h.Observe(time.Since(start).Seconds()) }()
	if sd, ok := t.Detector.(video.ScaledDetector); ok {
		return sd.DetectScaled(img, scale)
	}
	return t.Detector.DetectInfo(img)
}

// Revisits passes on whether the detector is a schedule that tiles
// (video.Schedule), so the pipeline keeps a tracker for it.
func (t timedDetector) Revisits() bool {
	r, ok := t.Detector.(interface{ Revisits() bool })
	return ok && r.Revisits()
}

// countsCollector shows a Run's Counts as counters, read at each scrape.
type countsCollector struct{ r *Run }

var (
	descIn        = prometheus.NewDesc("anonymize_frames_in_total", "Frames read: captured from a live source, or decoded from a watched file (an image counts as one).", nil, nil)
	descOut       = prometheus.NewDesc("anonymize_frames_out_total", "Frames written anonymized (an image counts as one).", nil, nil)
	descWhole     = prometheus.NewDesc("anonymize_frames_hidden_whole_total", "Frames (and images) hidden whole because the detector failed or timed out on them.", nil, nil)
	descDropped   = prometheus.NewDesc("anonymize_frames_dropped_total", "Frames not written: reason queue (detection was behind a live source), detector (the detector failed, video.on_error = drop).", []string{"reason"}, nil)
	descReconnect = prometheus.NewDesc("anonymize_live_reconnects_total", "Times the live source was reopened after it was lost.", nil, nil)
)

func (c countsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIn, descOut, descWhole, descDropped, descReconnect} {
		ch <- d
	}
}

func (c countsCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.r.Counts()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descIn, n.FramesIn)
	counter(descOut, n.FramesOut)
	counter(descWhole, n.HiddenWhole)
	counter(descDropped, n.DroppedQueue, "queue")
	counter(descDropped, n.DroppedDetector, "detector")
	counter(descReconnect, n.Reconnects)
}

// Follow shows set's models in r's model metrics (see Models.Follow).
func (r *Run) Follow(set *infer.Set) {
	if r != nil {
		r.Models.Follow(set)
	}
}
