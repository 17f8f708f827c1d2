package video

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

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
)

// Task is one image to anonymize.
type Task struct {
	Input  string
	Output string
	// Err is set when the task cannot run (e.g. two inputs map to one output).
	Err error
}

// ErrUsage marks errors in how a run was asked for (exit code 2).
var ErrUsage = errors.New("usage")

// Plan lists the images under inputs (folders are walked recursively,
// hidden files and folders skipped) and the output path of each.
//
// With out set, a single folder's tree is mirrored into out, and with
// several inputs each goes into out/<its base name>; a single file goes to
// out/<its name>. Without out, a folder D goes to D_anonymized beside it and
// a file f.jpg to f_anonymized.jpg. An output folder inside an input folder
// is left out of the walk; one equal to an input folder is refused.
// format "png" or "jpg" changes the extension; "keep" keeps it.
func Plan(inputs []string, out, format string) (tasks []Task, other []string, err error) {
	if len(inputs) == 0 {
		return nil, nil, fmt.Errorf("%w: no input paths", ErrUsage)
	}
	var absOut string
	if out != "" {
		if absOut, err = filepath.Abs(out); err != nil {
			return nil, nil, err
		}
	}
	seen := map[string]string{}
	add := func(in, outPath string) {
		outPath = withFormat(outPath, format)
		t := Task{Input: in, Output: outPath}
		if samePath(in, outPath) {
			// e.g. --out naming the folder a single input file is in: the
			// original must never be replaced (or, without --overwrite,
			// silently skipped as an existing output).
			t.Err = fmt.Errorf("output %s is the input itself; choose another --out", outPath)
		} else if prev, ok := seen[outPath]; ok {
			t.Err = fmt.Errorf("output %s would also be written for %s; rename one of them or use --format keep", outPath, prev)
		} else {
			seen[outPath] = in
		}
		tasks = append(tasks, t)
	}
	for _, in := range inputs {
		absIn, err := filepath.Abs(in)
		if err != nil {
			return nil, nil, err
		}
		st, err := os.Stat(in)
		if err != nil {
			tasks = append(tasks, Task{Input: in, Err: err})
			continue
		}
		if !st.IsDir() {
			switch {
			case !IsImage(in):
				other = append(other, in)
			case out == "":
				ext := filepath.Ext(in)
				add(in, strings.TrimSuffix(in, ext)+"_anonymized"+ext)
			default:
				add(in, filepath.Join(out, filepath.Base(in)))
			}
			continue
		}
		root := filepath.Clean(in) + "_anonymized"
		if out != "" {
			root = out
			if len(inputs) > 1 {
				root = filepath.Join(out, filepath.Base(absIn))
			}
		}
		absRoot, _ := filepath.Abs(root)
		if absRoot == absIn {
			return nil, nil, fmt.Errorf("%w: output folder %s is the input folder; choose another --out", ErrUsage, root)
		}
		if absOut != "" && absOut == absIn {
			return nil, nil, fmt.Errorf("%w: output folder %s is the input folder; choose another --out", ErrUsage, out)
		}
		walkErr := filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				tasks = append(tasks, Task{Input: p, Err: err})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if p != in && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				ap, _ := filepath.Abs(p)
				if ap == absRoot || (absOut != "" && ap == absOut) {
					return fs.SkipDir // the output lies inside the input
				}
				return nil
			}
			if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			if !IsImage(p) {
				other = append(other, p)
				return nil
			}
			rel, err := filepath.Rel(in, p)
			if err != nil {
				return err
			}
			add(p, filepath.Join(root, rel))
			return nil
		})
		if walkErr != nil {
			return nil, nil, walkErr
		}
	}
	return tasks, other, nil
}

// samePath reports whether a and b name the same file: the same absolute
// path, or (through links) the same existing file.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == ab {
		return true
	}
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

func withFormat(path, format string) string {
	switch format {
	case "png", "jpg":
		return strings.TrimSuffix(path, filepath.Ext(path)) + "." + format
	}
	return path
}

// BatchOptions configure a folder run.
type BatchOptions struct {
	Format      string // keep | png | jpg (Plan applies it to output names)
	JPEGQuality int
	Overwrite   bool
	Jobs        int
	Hide        HideOptions
	// HideBy overrides Hide for the detections of one model (by name).
	HideBy map[string]HideOptions
	// DropOnError writes nothing for an image the detector failed on;
	// otherwise the whole image is hidden. Either way it is counted.
	DropOnError bool
	Log         *slog.Logger
	// Progress is told of each finished task (may be nil).
	Progress func()
}

// Status of one image.
const (
	StatusDone        = "done"
	StatusSkipped     = "skipped"
	StatusFailed      = "failed"
	StatusHiddenWhole = "hidden-whole"
	StatusDropped     = "dropped"
)

// ImageResult is the audit record of one image.
type ImageResult struct {
	Input      string              `json:"input"`
	Output     string              `json:"output,omitempty"`
	Status     string              `json:"status"`
	Error      string              `json:"error,omitempty"`
	Width      int                 `json:"width,omitempty"`
	Height     int                 `json:"height,omitempty"`
	Model      *infer.Info         `json:"model,omitempty"`
	Detections []convert.Detection `json:"detections"`
	Millis     float64             `json:"ms"`
}

// Summary counts a run's outcomes.
type Summary struct {
	Done         int `json:"done"`
	Skipped      int `json:"skipped"`
	Failed       int `json:"failed"`
	HiddenWhole  int `json:"hidden_whole"`
	Dropped      int `json:"dropped"`
	Hidden       int `json:"regions_hidden"`
	NotProcessed int `json:"not_images"`
}

// Problems is the number of inputs that did not come out as intended.
func (s Summary) Problems() int { return s.Failed + s.HiddenWhole + s.Dropped }

// RunBatch anonymizes every task with jobs workers and reports each result
// (report is called from one goroutine at a time). Cancelling ctx stops
// starting new images; images in progress finish.
func RunBatch(ctx context.Context, det infer.Detector, tasks []Task, o BatchOptions, report func(ImageResult)) Summary {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	var (
		mu  sync.Mutex
		sum Summary
		wg  sync.WaitGroup
	)
	ch := make(chan Task)
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range ch {
				r := processImage(det, t, o)
				mu.Lock()
				switch r.Status {
				case StatusDone:
					sum.Done++
					sum.Hidden += len(r.Detections)
				case StatusSkipped:
					sum.Skipped++
				case StatusHiddenWhole:
					sum.HiddenWhole++
				case StatusDropped:
					sum.Dropped++
				default:
					sum.Failed++
				}
				if r.Error != "" {
					o.Log.Error("cannot anonymize", "file", r.Input, "status", r.Status, "err", r.Error)
				}
				if report != nil {
					report(r)
				}
				if o.Progress != nil {
					o.Progress()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, t := range tasks {
		select {
		case <-ctx.Done():
			break feed
		case ch <- t:
		}
	}
	close(ch)
	wg.Wait()
	return sum
}

// ProcessOne anonymizes one task (as RunBatch does for each) and returns
// its record.
func ProcessOne(det infer.Detector, t Task, o BatchOptions) ImageResult {
	return processImage(det, t, o)
}

func processImage(det infer.Detector, t Task, o BatchOptions) ImageResult {
	start := time.Now()
	r := ImageResult{Input: t.Input, Output: t.Output, Detections: []convert.Detection{}}
	fail := func(status string, err error) ImageResult {
		r.Status, r.Error = status, err.Error()
		r.Millis = ms(time.Since(start))
		return r
	}
	if t.Err != nil {
		r.Output = ""
		return fail(StatusFailed, t.Err)
	}
	if !o.Overwrite {
		if _, err := os.Stat(t.Output); err == nil {
			r.Status = StatusSkipped
			return r
		}
	}
	img, err := ReadImage(t.Input)
	if err != nil {
		r.Output = ""
		return fail(StatusFailed, fmt.Errorf("read: %w", err))
	}
	defer img.Close()
	r.Width, r.Height = img.Cols(), img.Rows()
	status := StatusDone
	dets, info, derr := det.DetectInfo(img)
	r.Model = &info
	if derr != nil {
		// Fail closed: never write what the detector could not look at.
		if o.DropOnError {
			r.Output = ""
			return fail(StatusDropped, fmt.Errorf("detect: %w (nothing written)", derr))
		}
		if err := HideAll(&img, o.Hide); err != nil {
			r.Output = ""
			return fail(StatusFailed, err)
		}
		status = StatusHiddenWhole
	} else {
		r.Detections = dets
		if err := hideDetections(&img, dets, o.Hide, o.HideBy); err != nil {
			r.Output = ""
			return fail(StatusFailed, err)
		}
	}
	if err := writeImage(img, t.Output, o.JPEGQuality); err != nil {
		r.Output = ""
		return fail(StatusFailed, fmt.Errorf("write %s: %w", t.Output, err))
	}
	r.Millis = ms(time.Since(start))
	r.Status = status
	if derr != nil {
		r.Error = fmt.Sprintf("detect: %v (whole image hidden)", derr)
	}
	return r
}

func writeImage(img gocv.Mat, path string, quality int) error {
	data, err := EncodeImage(img, filepath.Ext(path), quality)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o644)
}

// hideDetections hides dets, each model's in its own style when byModel
// names one.
func hideDetections(img *gocv.Mat, dets []convert.Detection, def HideOptions, byModel map[string]HideOptions) error {
	if len(byModel) == 0 {
		return Hide(img, boxesOf(dets), def)
	}
	groups := map[string][]convert.Box{}
	for _, d := range dets {
		groups[d.Model] = append(groups[d.Model], d.Box)
	}
	for model, boxes := range groups {
		o, ok := byModel[model]
		if !ok {
			o = def
		}
		if err := Hide(img, boxes, o); err != nil {
			return err
		}
	}
	return nil
}

func boxesOf(dets []convert.Detection) []convert.Box {
	b := make([]convert.Box, len(dets))
	for i, d := range dets {
		b[i] = d.Box
	}
	return b
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// SortResults orders audit records by input path.
func SortResults(rs []ImageResult) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Input < rs[j].Input })
}
