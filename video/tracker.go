package video

import (
	"fmt"
	"math"
	"sort"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video/hide"
)

// Temporal safety: a detector that misses a face for one frame must not
// let that frame show it. A Tracker follows detections from frame to frame
// and adds, for each frame, the regions to hide beyond the frame's own
// detections:
//
//   - persist: a face seen within the last Persist frames but missed in
//     this one, moved along its measured motion and grown a little for
//     every frame it has been missed;
//   - look-ahead: a face first seen at frame t is also hidden in frames
//     t-Lookahead .. t-1, moved back along its motion (measured between
//     its first two sightings) and grown likewise.
//
// Look-ahead changes frames already seen, so the Tracker holds them until
// nothing can change them any more; the caller keeps the frames themselves
// and finishes each one when Next reports it.

// Defaults for the zero-valued fields of TrackOptions.
const (
	// DefaultTrackGrow grows a predicted region by 10% of its size for
	// every frame between it and the sighting it comes from.
	DefaultTrackGrow = 0.1
	// DefaultTrackMaxGrow caps that growth at +100% (twice the size).
	DefaultTrackMaxGrow = 1.0
)

// Matching thresholds: a track and a detection of the same label and
// model may match when the track's predicted box overlaps the detection
// by at least matchIoU, or their centres are at most matchDist of the
// larger box's longer side apart.
const (
	matchIoU  = 0.1
	matchDist = 0.75
	// velSmooth weighs a new velocity measurement against the estimate.
	velSmooth = 0.5
)

// TrackOptions configure a Tracker. The zero value adds nothing: every
// frame's regions are its own detections.
type TrackOptions struct {
	// Persist keeps hiding a face for this many frames after the last one
	// it was detected in (0: off).
	Persist int
	// Lookahead hides a face in up to this many frames before the first
	// one it was detected in (0: off). Frames are then final only
	// Lookahead+1 frames after they were added (see Tracker.Delay).
	Lookahead int
	// Grow is the fraction of its size by which a predicted region grows
	// per frame of distance from its sighting; 0 means DefaultTrackGrow.
	Grow float64
	// MaxGrow caps that growth (as a fraction of the size); 0 means
	// DefaultTrackMaxGrow.
	MaxGrow float64
}

// Validate reports the first bad field, by name.
func (o TrackOptions) Validate() error {
	if o.Persist < 0 {
		return fmt.Errorf("persist %d: negative", o.Persist)
	}
	if o.Lookahead < 0 {
		return fmt.Errorf("lookahead %d: negative", o.Lookahead)
	}
	if math.IsNaN(o.Grow) || o.Grow < 0 || o.Grow > 1 {
		return fmt.Errorf("grow %g: out of range, want [0, 1] (0 means %g)", o.Grow, DefaultTrackGrow)
	}
	if math.IsNaN(o.MaxGrow) || o.MaxGrow < 0 || o.MaxGrow > hide.MaxMaskScale {
		return fmt.Errorf("max grow %g: out of range, want [0, %d] (0 means %g)", o.MaxGrow, hide.MaxMaskScale, DefaultTrackMaxGrow)
	}
	return nil
}

// Tracker follows detections across the frames of one video, in order. It
// is not safe for concurrent use and holds no C memory.
//
// Frames are numbered 0, 1, ... in the order Add takes them. After each
// Add, Next returns the frames that are final, oldest first, each with
// the regions to hide in it beyond its own detections.
type Tracker struct {
	o       TrackOptions
	tracks  []*track
	next    int        // the number of the frame Add takes next
	first   int        // the number of held[0]
	held    [][]extra  // per frame not yet final: its extra regions
	done    bool       // Flush was called
	pairs   []pair     // scratch for matching
	taken   []bool     // scratch: detections matched this frame
	updated []bool     // scratch: tracks matched this frame
	dets    []detCache // scratch: detections of this frame
	nextID  int
}

// track is one face followed across frames.
type track struct {
	id   int
	det  convert.Detection // the last sighting (its box, label, model, score)
	last int               // the frame of the last sighting
	// hold is the last frame it is kept in unless seen again: Persist
	// frames after a sighting, or until a schedule looks again
	// (Detection.Revisit), whichever is later.
	hold  int
	born  int         // the frame of the first sighting
	first convert.Box // the box of the first sighting
	// vx, vy is the centre's motion in pixels per frame, once known
	// (hasVel: seen in two frames).
	vx, vy float64
	hasVel bool
	// backfilled is set once its look-ahead regions are placed.
	backfilled bool
}

// extra is one region added to a held frame by a track: at most one per
// track and frame (a later estimate replaces an earlier one).
type extra struct {
	track int
	det   convert.Detection
}

type pair struct {
	t, d int
	iou  float64
	dist float64 // centre distance over the longer side
}

type detCache struct {
	d      convert.Detection
	cx, cy float64
}

// NewTracker returns a Tracker; it fails on invalid options.
func NewTracker(o TrackOptions) (*Tracker, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Grow == 0 {
		o.Grow = DefaultTrackGrow
	}
	if o.MaxGrow == 0 {
		o.MaxGrow = DefaultTrackMaxGrow
	}
	return &Tracker{o: o}, nil
}

// Delay is how many frames after a frame was added it becomes final: 0
// without look-ahead, Lookahead+1 with it (the look-ahead of a face first
// seen at frame t waits for frame t+1, which measures its motion).
func (t *Tracker) Delay() int {
	if t.o.Lookahead == 0 {
		return 0
	}
	return t.o.Lookahead + 1
}

// Add takes the detections of the next frame. With failed set the frame
// could not be looked at (its detection failed or timed out): dets are
// ignored, no track is updated and every track ages by a frame; the frame
// still gets a place, so the numbering stays that of the video. Add after
// Flush panics.
func (t *Tracker) Add(dets []convert.Detection, failed bool) {
	if t.done {
		panic("video: Tracker.Add after Flush")
	}
	f := t.next
	t.next++
	t.held = append(t.held, nil)

	if !failed {
		t.match(f, dets)
	}
	// Look-ahead of the tracks born in the frame before: their motion is
	// known now if this frame saw them again. (Those born in this frame
	// wait for the next one.)
	for _, tr := range t.tracks {
		if !tr.backfilled && tr.born < f {
			t.backfill(tr)
		}
	}

	// Persist: tracks not seen in this frame, missed for at most Persist
	// frames, are predicted into it; older ones are dropped.
	keep := t.tracks[:0]
	for _, tr := range t.tracks {
		k := f - tr.last
		if f > tr.hold {
			continue
		}
		keep = append(keep, tr)
		if k >= 1 && !failed {
			t.place(f, tr, t.predict(tr, k), convert.SourcePersist)
		}
	}
	clear(t.tracks[len(keep):])
	t.tracks = keep
}

// match pairs the frame's detections with the tracks, greedily: pairs in
// order of IoU (with the track's box moved to this frame), then centre
// distance, then detection score. Matched tracks take the detection;
// the rest start new tracks.
func (t *Tracker) match(f int, dets []convert.Detection) {
	t.cacheDets(dets)
	t.pairUp(f)
	t.sortPairs()
	t.assign(f)
	t.startTracks(f)
}

// cacheDets keeps the frame's detections that have an area, with their
// centres.
func (t *Tracker) cacheDets(dets []convert.Detection) {
	t.dets = t.dets[:0]
	for _, d := range dets {
		if !(d.Box.X2 > d.Box.X1) || !(d.Box.Y2 > d.Box.Y1) {
			continue // empty or NaN: nothing to follow
		}
		cx, cy := centre(d.Box)
		t.dets = append(t.dets, detCache{d: d, cx: cx, cy: cy})
	}
}

// pairUp lists the candidate pairs of a track still alive in frame f and a
// detection of its label and model: close enough by IoU or by centre
// distance (relative to the larger side).
func (t *Tracker) pairUp(f int) {
	t.pairs = t.pairs[:0]
	for ti, tr := range t.tracks {
		k := f - tr.last
		if f > tr.hold+1 {
			continue
		}
		pb := t.move(tr, k)
		pcx, pcy := centre(pb)
		for di, dc := range t.dets {
			if dc.d.Label != tr.det.Label || dc.d.Model != tr.det.Model {
				continue
			}
			iou := float64(convert.IoU(pb, dc.d.Box))
			side := float64(max(pb.W(), pb.H(), dc.d.Box.W(), dc.d.Box.H()))
			dist := math.Hypot(dc.cx-pcx, dc.cy-pcy) / side
			if iou < matchIoU && !(dist <= matchDist) {
				continue
			}
			t.pairs = append(t.pairs, pair{t: ti, d: di, iou: iou, dist: dist})
		}
	}
}

// sortPairs orders the pairs best first: by IoU, then centre distance, then
// detection score (ties by index, so that the order is stable).
func (t *Tracker) sortPairs() {
	sort.Slice(t.pairs, func(i, j int) bool {
		a, b := t.pairs[i], t.pairs[j]
		if a.iou != b.iou {
			return a.iou > b.iou
		}
		if a.dist != b.dist {
			return a.dist < b.dist
		}
		if sa, sb := t.dets[a.d].d.Score, t.dets[b.d].d.Score; sa != sb {
			return sa > sb
		}
		if a.d != b.d {
			return a.d < b.d
		}
		return a.t < b.t
	})
}

// assign gives each track its best pair's detection in frame f, each
// detection going to one track at most.
func (t *Tracker) assign(f int) {
	t.taken = resetBools(t.taken, len(t.dets))
	t.updated = resetBools(t.updated, len(t.tracks))
	for _, p := range t.pairs {
		if t.taken[p.d] || t.updated[p.t] {
			continue
		}
		t.taken[p.d] = true
		t.updated[p.t] = true
		t.update(t.tracks[p.t], f, t.dets[p.d])
	}
}

// startTracks starts a new track in frame f for each detection no track
// took.
func (t *Tracker) startTracks(f int) {
	for di, dc := range t.dets {
		if t.taken[di] {
			continue
		}
		tr := &track{id: t.nextID, det: dc.d, last: f, born: f, first: dc.d.Box, hold: f + max(t.o.Persist, dc.d.Revisit)}
		t.nextID++
		if t.o.Lookahead == 0 || f == 0 {
			tr.backfilled = true // nothing to place
		}
		t.tracks = append(t.tracks, tr)
	}
}

// update moves tr to its sighting dc in frame f and refines its velocity.
func (t *Tracker) update(tr *track, f int, dc detCache) {
	k := float64(f - tr.last)
	ocx, ocy := centre(tr.det.Box)
	vx, vy := (dc.cx-ocx)/k, (dc.cy-ocy)/k
	if tr.hasVel {
		vx = velSmooth*vx + (1-velSmooth)*tr.vx
		vy = velSmooth*vy + (1-velSmooth)*tr.vy
	}
	// A face does not cross more than its own size in a frame: a faster
	// "motion" is a mismatch, whose damage this bounds.
	lim := float64(max(dc.d.Box.W(), dc.d.Box.H()))
	tr.vx, tr.vy = clampAbs(vx, lim), clampAbs(vy, lim)
	tr.hasVel = true
	tr.det = dc.d
	tr.last = f
	tr.hold = max(tr.hold, f+max(t.o.Persist, dc.d.Revisit))
}

// backfill places tr's look-ahead regions into the held frames before the
// one it was born in: its first box moved back along its motion (if known)
// and grown per frame of distance. It replaces what an earlier call
// placed; frames that are already final are left alone.
func (t *Tracker) backfill(tr *track) {
	tr.backfilled = true
	cx, cy := centre(tr.first)
	for k := 1; k <= t.o.Lookahead; k++ {
		f := tr.born - k
		if f < 0 {
			break
		}
		dx, dy := 0.0, 0.0
		if tr.hasVel {
			dx, dy = -tr.vx*float64(k), -tr.vy*float64(k)
		}
		b := t.growFor(tr, shift(tr.first, dx, dy), k, cx+dx, cy+dy)
		t.place(f, tr, b, convert.SourceLookahead)
	}
}

// place records region b of tr in frame f, if f is still held.
func (t *Tracker) place(f int, tr *track, b convert.Box, source string) {
	i := f - t.first
	if i < 0 || i >= len(t.held) {
		return
	}
	d := tr.det
	d.Box = b
	d.Source = source
	d.Keypoints = nil // a predicted face has no landmarks
	for j, e := range t.held[i] {
		if e.track == tr.id {
			t.held[i][j].det = d
			return
		}
	}
	t.held[i] = append(t.held[i], extra{track: tr.id, det: d})
}

// move is tr's last box moved k frames along its motion.
func (t *Tracker) move(tr *track, k int) convert.Box {
	if !tr.hasVel {
		return tr.det.Box
	}
	return shift(tr.det.Box, tr.vx*float64(k), tr.vy*float64(k))
}

// predict is tr's region k frames after its last sighting: moved and grown.
func (t *Tracker) predict(tr *track, k int) convert.Box {
	b := t.move(tr, k)
	cx, cy := centre(b)
	return t.growFor(tr, b, k, cx, cy)
}

// Growth of a region held for a schedule's revisit (Detection.Revisit)
// whose motion is unknown: seen once, in a tile, a small face may be
// moving. The region grows by 20% of its size per frame (a tenth on each
// side), up to 2.5x its size, so a face moving up to a tenth of its size
// per frame (a walking person's face moves about a fifth when crossing
// the view, less when walking at an angle) stays inside it until its tile
// comes round again. Faster growth hid more of a crowd than the faces in
// it (over-masking 1.7 % at 0.4 per frame against 1.0 % at 0.2 on
// wider-dev at half size in a 1080p clip, docs/BENCHMARKS.md).
const (
	revisitGrow    = 0.2
	revisitMaxGrow = 1.5
)

// growFor is grow at the rate for tr: revisitGrow for a face held for a
// revisit without a measured motion, else the options'.
func (t *Tracker) growFor(tr *track, b convert.Box, k int, cx, cy float64) convert.Box {
	if tr.hasVel || tr.det.Revisit == 0 {
		return t.grow(b, k, cx, cy)
	}
	s := 1 + math.Min(max(t.o.Grow, revisitGrow)*float64(k), max(t.o.MaxGrow, revisitMaxGrow))
	hw, hh := float64(b.W())/2*s, float64(b.H())/2*s
	return convert.Box{X1: float32(cx - hw), Y1: float32(cy - hh), X2: float32(cx + hw), Y2: float32(cy + hh)}
}

// grow scales b about (cx, cy) by 1 + min(Grow*k, MaxGrow).
func (t *Tracker) grow(b convert.Box, k int, cx, cy float64) convert.Box {
	s := 1 + math.Min(t.o.Grow*float64(k), t.o.MaxGrow)
	hw, hh := float64(b.W())/2*s, float64(b.H())/2*s
	return convert.Box{X1: float32(cx - hw), Y1: float32(cy - hh), X2: float32(cx + hw), Y2: float32(cy + hh)}
}

// Next returns the oldest held frame if it is final: its number and the
// regions to hide in it beyond its own detections (nil when none); ok is
// false when no frame is final yet.
func (t *Tracker) Next() (frame int, extras []convert.Detection, ok bool) {
	if len(t.held) == 0 {
		return 0, nil, false
	}
	if !t.done && t.next-t.first <= t.Delay() {
		return 0, nil, false
	}
	frame = t.first
	if h := t.held[0]; len(h) > 0 {
		extras = make([]convert.Detection, len(h))
		for i, e := range h {
			extras[i] = e.det
		}
	}
	t.held[0] = nil
	t.held = t.held[1:]
	t.first++
	return frame, extras, true
}

// Flush ends the video: the look-ahead of tracks born in the last frame is
// placed without their motion, and every held frame becomes final.
func (t *Tracker) Flush() {
	if t.done {
		return
	}
	for _, tr := range t.tracks {
		if !tr.backfilled {
			t.backfill(tr)
		}
	}
	t.done = true
}

func centre(b convert.Box) (float64, float64) {
	return (float64(b.X1) + float64(b.X2)) / 2, (float64(b.Y1) + float64(b.Y2)) / 2
}

func shift(b convert.Box, dx, dy float64) convert.Box {
	return convert.Box{
		X1: float32(float64(b.X1) + dx), Y1: float32(float64(b.Y1) + dy),
		X2: float32(float64(b.X2) + dx), Y2: float32(float64(b.Y2) + dy),
	}
}

// resetBools returns b resized to n and all false.
func resetBools(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	b = b[:n]
	clear(b)
	return b
}

func clampAbs(v, lim float64) float64 {
	return math.Max(-lim, math.Min(lim, v))
}

// delay is Delay, 0 for a nil Tracker.
func (t *Tracker) delay() int {
	if t == nil {
		return 0
	}
	return t.Delay()
}
