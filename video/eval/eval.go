package eval

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// Labels maps an image path, relative to the images folder, to its
// labelled face boxes (x2, y2 exclusive).
type Labels map[string][]convert.Box

// LoadLabels reads labelled boxes: our JSON ({"rel/path.jpg": [[x1,y1,x2,y2],
// ...]}) or the WIDER FACE text format (path, count, then one "x y w h ..."
// line per face; boxes flagged invalid are left out).
func LoadLabels(path string) (Labels, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read boxes: %w", err)
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var raw map[string][][]float64
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("read boxes %s: %w", path, err)
		}
		l := Labels{}
		for img, boxes := range raw {
			for i, b := range boxes {
				if len(b) != 4 || b[2] <= b[0] || b[3] <= b[1] {
					return nil, fmt.Errorf("read boxes %s: %s box %d: want [x1, y1, x2, y2] with x2 > x1 and y2 > y1, got %v", path, img, i, b)
				}
				l[img] = append(l[img], convert.Box{X1: float32(b[0]), Y1: float32(b[1]), X2: float32(b[2]), Y2: float32(b[3])})
			}
			if len(boxes) == 0 {
				l[img] = nil
			}
		}
		return l, nil
	}
	return parseWIDER(data, path)
}

func parseWIDER(data []byte, path string) (Labels, error) {
	l := Labels{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	next := func() (string, bool) {
		for sc.Scan() {
			line++
			if s := strings.TrimSpace(sc.Text()); s != "" {
				return s, true
			}
		}
		return "", false
	}
	for {
		name, ok := next()
		if !ok {
			break
		}
		cs, ok := next()
		n, err := strconv.Atoi(cs)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("read boxes %s line %d: want the number of faces of %s, got %q", path, line, name, cs)
		}
		rows := n
		if n == 0 {
			rows = 1 // WIDER writes one all-zero line for images without faces
		}
		l[name] = nil
		for range rows {
			s, ok := next()
			f := strings.Fields(s)
			if !ok || len(f) < 4 {
				return nil, fmt.Errorf("read boxes %s line %d: want \"x y w h ...\" for %s", path, line, name)
			}
			var v [4]float64
			for i := range v {
				if v[i], err = strconv.ParseFloat(f[i], 64); err != nil {
					return nil, fmt.Errorf("read boxes %s line %d: %v", path, line, err)
				}
			}
			invalid := len(f) >= 8 && f[7] == "1"
			if n == 0 || invalid || v[2] <= 0 || v[3] <= 0 {
				continue
			}
			l[name] = append(l[name], convert.Box{X1: float32(v[0]), Y1: float32(v[1]), X2: float32(v[0] + v[2]), Y2: float32(v[1] + v[3])})
		}
	}
	return l, nil
}

// HeightBuckets are the face-height classes recall is broken down by.
var HeightBuckets = []struct {
	Name   string
	Lo, Hi float32
}{{"<10", 0, 10}, {"10-19", 10, 20}, {"20-49", 20, 50}, {"50-149", 50, 150}, {"150+", 150, math.MaxFloat32}}

// Bucket counts faces in one height class.
type Bucket struct {
	Name   string `json:"name"`
	Faces  int    `json:"faces"`
	Hidden int    `json:"hidden"`
}

// Missed is a labelled face the mask left visible (covered under half).
type Missed struct {
	Image    string      `json:"image"`
	Box      convert.Box `json:"box"`
	Coverage float64     `json:"coverage"`
}

// Result is what `anonymize eval` reports.
type Result struct {
	Model  convert.ModelInfo `json:"model"`
	Images int               `json:"images"`
	Faces  int               `json:"faces"`
	// Recall is the share of faces whose box is at least half covered by
	// the mask the tool applies; Recall80 at 80% coverage.
	Recall   float64 `json:"recall"`
	Recall80 float64 `json:"recall_80"`
	// OverHiding is the share of each image masked outside every labelled
	// face box enlarged 1.5x about its centre, averaged over images.
	OverHiding float64 `json:"over_hiding"`
	// MsPerImage is wall time per image (all jobs together); DetectMs the
	// mean detection time of one image.
	MsPerImage float64 `json:"ms_per_image"`
	DetectMs   float64 `json:"detect_ms"`
	// Buckets break recall down by labelled face height in the photo's
	// pixels (after Scale; for a video, in the photo, not in the frame).
	Buckets []Bucket `json:"by_height"`
	// Scale is the factor every photo and its labels were shrunk by before
	// evaluation (0: not shrunk); TooSmall counts the labelled faces left
	// out because they became under 1 px tall.
	Scale    float64  `json:"scale,omitempty"`
	TooSmall int      `json:"too_small,omitempty"`
	Failed   []string `json:"failed,omitempty"`
	Missed   []Missed `json:"missed,omitempty"`
	// Video describes the clip and its run (RunVideo only).
	Video *VideoStats `json:"video,omitempty"`
}

// Options set the mask exactly as an anonymize run would.
type Options struct {
	// Hide is the mask of detections whose model carries no style of its
	// own (convert.ModelInfo.Style).
	Hide hide.Options
	Jobs int
	// MaxPixels caps each image's width x height (max_pixels; 0: the
	// default), as in a run.
	MaxPixels int64
	// Scale, in (0, 1), shrinks every photo (area interpolation) and its
	// labels by this factor before detection (0 or 1: as they are).
	Scale float64
}

type imageEval struct {
	name      string
	faces     []convert.Box
	coverage  []float64
	over      float64
	detect    time.Duration
	err       error
	processed bool
	tooSmall  int // labelled faces left out: under 1 px tall once scaled
}

// Run runs det over every labelled image under dir and measures the
// mask the tool would apply.
func Run(ctx context.Context, det video.Detector, dir string, labels Labels, o Options) (Result, error) {
	names := sortedNames(labels)
	start := time.Now()
	res := evalAll(ctx, det, dir, names, labels, o)
	wall := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	r := summarize(det.Info(), res, o.Scale)
	if r.Images > 0 {
		r.MsPerImage = float64(wall.Microseconds()) / 1000 / float64(r.Images)
	}
	if len(r.Failed) > 0 && r.Images == 0 {
		return r, fmt.Errorf("no image could be evaluated: %s", r.Failed[0])
	}
	return r, nil
}

func sortedNames(labels Labels) []string {
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// summarize adds up the images evaluated into a Result (MsPerImage left
// to the caller).
func summarize(info convert.ModelInfo, res []imageEval, scale float64) Result {
	r := Result{Model: info}
	if scale > 0 && scale < 1 {
		r.Scale = scale
	}
	for _, b := range HeightBuckets {
		r.Buckets = append(r.Buckets, Bucket{Name: b.Name})
	}
	var detect time.Duration
	for _, ie := range res {
		if ie.err != nil {
			r.Failed = append(r.Failed, fmt.Sprintf("%s: %v", ie.name, ie.err))
			continue
		}
		r.Images++
		r.OverHiding += ie.over
		r.TooSmall += ie.tooSmall
		detect += ie.detect
		r.addFaces(ie)
	}
	if r.Faces > 0 {
		r.Recall /= float64(r.Faces)
		r.Recall80 /= float64(r.Faces)
	}
	if r.Images > 0 {
		r.OverHiding /= float64(r.Images)
		r.DetectMs = float64(detect.Microseconds()) / 1000 / float64(r.Images)
	}
	return r
}

// evalAll evaluates the images names under dir, o.Jobs at a time, until
// ctx ends (the images not started then are left zero).
func evalAll(ctx context.Context, det video.Detector, dir string, names []string, labels Labels, o Options) []imageEval {
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	res := make([]imageEval, len(names))
	ch := make(chan int)
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				res[i] = evalImage(det, filepath.Join(dir, names[i]), names[i], labels[names[i]], o)
			}
		}()
	}
feed:
	for i := range names {
		select {
		case <-ctx.Done():
			break feed
		case ch <- i:
		}
	}
	close(ch)
	wg.Wait()
	return res
}

// addFaces counts the labelled faces of one image evaluated: in all, in
// their height bucket, hidden (at least half covered) or missed, and at
// least 80% covered. Recall and Recall80 are counts until Run divides them.
func (r *Result) addFaces(ie imageEval) {
	for k, f := range ie.faces {
		c := ie.coverage[k]
		r.Faces++
		h := f.H()
		bi := 0
		for j, b := range HeightBuckets {
			if h >= b.Lo && h < b.Hi {
				bi = j
			}
		}
		r.Buckets[bi].Faces++
		if c >= 0.5 {
			r.Recall++
			r.Buckets[bi].Hidden++
		} else {
			r.Missed = append(r.Missed, Missed{Image: ie.name, Box: f, Coverage: c})
		}
		if c >= 0.8 {
			r.Recall80++
		}
	}
}

func evalImage(det video.Detector, path, name string, faces []convert.Box, o Options) imageEval {
	ie := imageEval{name: name}
	img, sx, sy, err := ReadScaled(path, o.MaxPixels, o.Scale)
	if err != nil {
		ie.err = err
		return ie
	}
	defer img.Close()
	ie.faces, ie.tooSmall = ScaleBoxes(faces, sx, sy)
	t := time.Now()
	dets, info, err := det.DetectInfo(img)
	ie.detect = time.Since(t)
	if err != nil {
		ie.err = fmt.Errorf("detect: %w", err)
		return ie
	}
	w, h := img.Cols(), img.Rows()
	ie.score(maskOf(dets, w, h, o.Hide, hide.ForInfo(info, o.Hide)), w, h)
	return ie
}

// ReadScaled reads the photo at path and, when 0 < scale < 1, shrinks it
// by scale (area interpolation); sx and sy are the factors its width and
// height were scaled by (1 when not).
func ReadScaled(path string, maxPixels int64, scale float64) (gocv.Mat, float32, float32, error) {
	img, err := imageio.ReadMax(path, maxPixels)
	if err != nil || scale <= 0 || scale >= 1 {
		return img, 1, 1, err
	}
	sw, sh, sx, sy := scaledSize(img.Cols(), img.Rows(), scale)
	small := gocv.NewMat()
	gocv.Resize(img, &small, image.Pt(sw, sh), 0, 0, gocv.InterpolationArea)
	img.Close()
	return small, sx, sy, nil
}

// scaledSize is the size of a w x h photo shrunk by scale (0 or 1: as it
// is), and the factors its width and height are scaled by.
func scaledSize(w, h int, scale float64) (sw, sh int, sx, sy float32) {
	if scale <= 0 || scale >= 1 {
		return w, h, 1, 1
	}
	sw, sh = max(1, int(math.Round(float64(w)*scale))), max(1, int(math.Round(float64(h)*scale)))
	return sw, sh, float32(sw) / float32(w), float32(sh) / float32(h)
}

// ScaleBoxes scales labelled boxes by sx, sy; those then under 1 px tall
// are left out, and counted.
func ScaleBoxes(faces []convert.Box, sx, sy float32) ([]convert.Box, int) {
	if sx == 1 && sy == 1 {
		return faces, 0
	}
	out := make([]convert.Box, 0, len(faces))
	for _, f := range faces {
		b := convert.Box{X1: f.X1 * sx, Y1: f.Y1 * sy, X2: f.X2 * sx, Y2: f.Y2 * sy}
		if b.H() < 1 {
			continue
		}
		out = append(out, b)
	}
	return out, len(faces) - len(out)
}

// score measures mask (w x h, the photo's) against ie.faces: how much of
// each face it covers, and the share of the photo it masks outside every
// face box enlarged 1.5x (over-hiding).
func (ie *imageEval) score(mask []uint8, w, h int) {
	ie.coverage = make([]float64, len(ie.faces))
	for i, f := range ie.faces {
		ie.coverage[i] = coverage(mask, w, h, f)
	}
	allowed := make([]bool, w*h)
	for _, f := range ie.faces {
		cx, cy := (f.X1+f.X2)/2, (f.Y1+f.Y2)/2
		hw, hh := f.W()*0.75, f.H()*0.75
		x0, y0, x1, y1 := pixelSpan(cx-hw, cy-hh, cx+hw, cy+hh, w, h)
		for y := y0; y < y1; y++ {
			row := allowed[y*w+x0 : y*w+x1]
			for i := range row {
				row[i] = true
			}
		}
	}
	n := 0
	for i, m := range mask {
		if m != 0 && !allowed[i] {
			n++
		}
	}
	ie.over = float64(n) / float64(w*h)
	ie.processed = true
}

// Score measures the mask dets get in a w x h image with labelled faces:
// the share of each face's box the mask hides, and the share of the image
// masked outside every face box enlarged 1.5x about its centre
// (over-hiding), as Run scores a photo. def and byModel are the hiding
// options: each model's detections in its style (byModel), the others in
// def.
func Score(dets []convert.Detection, faces []convert.Box, w, h int, def hide.Options, byModel map[string]hide.Options) (cover []float64, over float64) {
	ie := imageEval{faces: faces}
	ie.score(maskOf(dets, w, h, def, byModel), w, h)
	return ie.coverage, ie.over
}

// maskOf is the mask hide.Detections would apply for dets: each model's
// detections in that model's style (byModel), the others in def.
func maskOf(dets []convert.Detection, w, h int, def hide.Options, byModel map[string]hide.Options) []uint8 {
	if len(byModel) == 0 {
		return hide.Mask(hide.BoxesOf(dets), w, h, def)
	}
	groups := map[string][]convert.Box{}
	for _, d := range dets {
		groups[d.Model] = append(groups[d.Model], d.Box)
	}
	var mask []uint8
	for model, boxes := range groups {
		ho, ok := byModel[model]
		if !ok {
			ho = def
		}
		m := hide.Mask(boxes, w, h, ho)
		if mask == nil {
			mask = m
			continue
		}
		for i, v := range m {
			mask[i] |= v
		}
	}
	if mask == nil {
		mask = make([]uint8, w*h)
	}
	return mask
}

// pixelSpan is the pixel range [x0,x1) x [y0,y1) a box touches, clipped.
func pixelSpan(x1, y1, x2, y2 float32, w, h int) (int, int, int, int) {
	c := func(v float64, hi int) int { return min(max(int(v), 0), hi) }
	return c(math.Floor(float64(x1)), w), c(math.Floor(float64(y1)), h), c(math.Ceil(float64(x2)), w), c(math.Ceil(float64(y2)), h)
}

// coverage is the share of a labelled box's pixels that the mask hides.
func coverage(mask []uint8, w, h int, b convert.Box) float64 {
	x0, y0, x1, y1 := pixelSpan(b.X1, b.Y1, b.X2, b.Y2, w, h)
	if x1 <= x0 || y1 <= y0 {
		return 0
	}
	n := 0
	for y := y0; y < y1; y++ {
		for _, m := range mask[y*w+x0 : y*w+x1] {
			if m != 0 {
				n++
			}
		}
	}
	return float64(n) / float64((x1-x0)*(y1-y0))
}
