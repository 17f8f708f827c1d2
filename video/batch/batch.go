package batch

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
	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// Task is one image or video file to anonymize.
type Task struct {
	Input  string
	Output string
	// Kind says whether Input is an image or a video; empty means by its
	// extension (imageio.IsVideo).
	Kind Kind
	// Err is set when the task cannot run (e.g. two inputs map to one output).
	Err error
	// Rel is Input's path below its input folder, slash-separated (a file
	// named as an input: its name); a split run hashes it (ShardOf).
	Rel string
}

// Kind is what a task's input is.
type Kind string

// Kinds of input.
const (
	KindImage Kind = "image"
	KindVideo Kind = "video"
)

// IsVideo reports whether the task is a video file.
func (t Task) IsVideo() bool {
	if t.Kind != "" {
		return t.Kind == KindVideo
	}
	return imageio.IsVideo(t.Input)
}

// ErrUsage marks errors in how a run was asked for (exit code 2).
var ErrUsage = errors.New("usage")

// Plan lists the images and videos under inputs (folders are walked
// recursively, hidden files and folders skipped) and the output path of
// each; other files are returned in other.
//
// With out set, a single folder's tree is mirrored into out, and with
// several inputs each goes into out/<its base name>; a single file goes to
// out/<its name>. Without out, a folder D goes to D_anonymized beside it and
// a file f.jpg to f_anonymized.jpg. An output folder inside an input folder
// is left out of the walk; one equal to an input folder is refused.
// format "png" or "jpg" changes an image's extension; "keep" keeps it.
// A video keeps its container (and extension).
func Plan(inputs []string, out, format string) (tasks []Task, other []string, err error) {
	if len(inputs) == 0 {
		return nil, nil, fmt.Errorf("%w: no input paths", ErrUsage)
	}
	pl := &planner{out: out, format: format, seen: map[string]string{}}
	if out != "" {
		if pl.absOut, err = filepath.Abs(out); err != nil {
			return nil, nil, err
		}
	}
	for _, in := range inputs {
		absIn, err := filepath.Abs(in)
		if err != nil {
			return nil, nil, err
		}
		st, err := os.Stat(in)
		if err != nil {
			pl.tasks = append(pl.tasks, Task{Input: in, Err: err})
			continue
		}
		if !st.IsDir() {
			pl.file(in)
			continue
		}
		root := filepath.Clean(in) + "_anonymized"
		if out != "" {
			root = out
			if len(inputs) > 1 {
				root = filepath.Join(out, filepath.Base(absIn))
			}
		}
		if err := pl.folder(in, absIn, root); err != nil {
			return nil, nil, err
		}
	}
	return pl.tasks, pl.other, nil
}

// planner collects what Plan finds.
type planner struct {
	out, absOut string // --out as given and absolute; "" without it
	format      string
	seen        map[string]string // output -> the input it is written for
	tasks       []Task
	other       []string // neither images nor videos
}

// add plans the input in to be written to outPath (an image's extension
// changed by the format), refusing an output that is the input itself or
// one already planned for another input.
func (pl *planner) add(in, rel, outPath string) {
	kind := KindImage
	if imageio.IsVideo(in) {
		kind = KindVideo
	} else {
		outPath = WithFormat(outPath, pl.format)
	}
	t := Task{Input: in, Output: outPath, Kind: kind, Rel: filepath.ToSlash(rel)}
	if samePath(in, outPath) {
		// e.g. --out naming the folder a single input file is in: the
		// original must never be replaced (or, without --overwrite,
		// silently skipped as an existing output).
		t.Err = fmt.Errorf("output %s is the input itself; choose another --out", outPath)
	} else if prev, ok := pl.seen[outPath]; ok {
		t.Err = fmt.Errorf("output %s would also be written for %s; rename one of them or use --format keep", outPath, prev)
	} else {
		pl.seen[outPath] = in
	}
	pl.tasks = append(pl.tasks, t)
}

// file plans a single input file, named on the command line.
func (pl *planner) file(in string) {
	switch {
	case !imageio.IsImage(in) && !imageio.IsVideo(in):
		pl.other = append(pl.other, in)
	case pl.out == "":
		ext := filepath.Ext(in)
		pl.add(in, filepath.Base(in), strings.TrimSuffix(in, ext)+"_anonymized"+ext)
	default:
		pl.add(in, filepath.Base(in), filepath.Join(pl.out, filepath.Base(in)))
	}
}

// folder plans the files under the input folder in (absIn, absolute),
// whose tree goes to root; an output folder equal to in is refused.
func (pl *planner) folder(in, absIn, root string) error {
	absRoot, _ := filepath.Abs(root)
	if absRoot == absIn {
		return fmt.Errorf("%w: output folder %s is the input folder; choose another --out", ErrUsage, root)
	}
	if pl.absOut != "" && pl.absOut == absIn {
		return fmt.Errorf("%w: output folder %s is the input folder; choose another --out", ErrUsage, pl.out)
	}
	return filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			pl.tasks = append(pl.tasks, Task{Input: p, Err: err})
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
			if ap == absRoot || (pl.absOut != "" && ap == pl.absOut) {
				return fs.SkipDir // the output lies inside the input
			}
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if !imageio.IsImage(p) && !imageio.IsVideo(p) {
			pl.other = append(pl.other, p)
			return nil
		}
		rel, err := filepath.Rel(in, p)
		if err != nil {
			return err
		}
		pl.add(p, rel, filepath.Join(root, rel))
		return nil
	})
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

// WithFormat is path as Plan names an image output: with the extension
// format names ("png" or "jpg"); any other format keeps path as it is.
func WithFormat(path, format string) string {
	switch format {
	case "png", "jpg":
		return strings.TrimSuffix(path, filepath.Ext(path)) + "." + format
	}
	return path
}

// Options configure a folder run.
type Options struct {
	Format      string // keep | png | jpg (Plan applies it to output names)
	JPEGQuality int
	Overwrite   bool
	// Jobs is how many images are anonymized at once. Videos go one at a
	// time, beside the images, each using every core (Video.Workers).
	Jobs int
	// Hide is how regions are hidden, unless the model that found them
	// carries its own style (convert.ModelInfo.Style).
	Hide hide.Options
	// DropOnError writes nothing for an image the detector failed on, and
	// leaves such a frame out of a video; otherwise the whole image or
	// frame is hidden. Either way it is counted.
	DropOnError bool
	// MaxPixels caps an input's width x height, image or video frame
	// (max_pixels; 0: imageio.DefaultMaxPixels). An image is measured from
	// its header and a video from its probe, before anything is decoded;
	// one over the cap fails, naming its size.
	MaxPixels int64
	// Video configures video files.
	Video VideoOptions
	Log   *slog.Logger
	// Progress is told of each finished task (may be nil).
	Progress func()
	// FrameProgress is told of a video's progress: frames written so far
	// of total (0 when the file does not say), first with done 0 (may be
	// nil). Called from one goroutine per video.
	FrameProgress func(t Task, done, total int)
}

// VideoOptions configure the video files of a batch.
type VideoOptions struct {
	// Encode chooses the encoder (AudioFrom is set per file).
	Encode ffmpeg.EncodeOptions
	// KeepAudio copies each video's audio track without re-encoding.
	KeepAudio bool
	// Persist and Lookahead: see video.PipelineOptions.
	Persist, Lookahead int
	// Timeout bounds each frame's detection (0: none); see video.PipelineOptions.
	Timeout time.Duration
	// Workers is how many frames are detected at once (0: one per core).
	Workers int
	// DetectMaxSide shrinks frames for detection so that the longer side
	// is at most this (0: full size); regions are hidden at full size.
	DetectMaxSide int
	// TileSide adds full-size tiles in rotation to frames shrunk for
	// detection (video.Schedule; 0: off).
	TileSide int
	// Detector runs on the frames in place of the batch's detector (nil:
	// the same), e.g. infer.Set.ForVideo, which leaves out models run on
	// photos only.
	Detector video.Detector
}

// Status of one image.
const (
	StatusDone        = "done"
	StatusSkipped     = "skipped"
	StatusFailed      = "failed"
	StatusHiddenWhole = "hidden-whole"
	StatusDropped     = "dropped"
)

// ImageResult is the audit record of one image or video file.
type ImageResult struct {
	Input  string `json:"input"`
	Output string `json:"output,omitempty"`
	// Kind is "video" for a video file (empty for an image).
	Kind   Kind               `json:"kind,omitempty"`
	Status string             `json:"status"`
	Error  string             `json:"error,omitempty"`
	Width  int                `json:"width,omitempty"`
	Height int                `json:"height,omitempty"`
	Model  *convert.ModelInfo `json:"model,omitempty"`
	// Detections are an image's detections; a video's are only counted
	// (Video.Regions), as a list per frame would dwarf the rest.
	Detections []convert.Detection `json:"detections"`
	Millis     float64             `json:"ms"`
	// Video is set for a video file that was processed.
	Video *VideoResult `json:"video,omitempty"`
}

// VideoResult is the audit record of a video file's frames.
type VideoResult struct {
	Frames      int     `json:"frames"`       // frames written
	FramesRead  int     `json:"frames_read"`  // frames decoded
	FrameRate   string  `json:"frame_rate"`   // of the input and the output, e.g. "30000/1001"
	Seconds     float64 `json:"seconds"`      // the input's duration
	Rotation    int     `json:"rotation"`     // of the input (frames were written upright)
	Audio       bool    `json:"audio"`        // the audio track was copied
	Codec       string  `json:"codec"`        // the encoder used
	Regions     int     `json:"regions"`      // regions detected and hidden, over all frames
	Persisted   int     `json:"persisted"`    // regions kept hidden after a face was last seen
	LookedAhead int     `json:"looked_ahead"` // regions hidden before a face was first seen
	// FramesWithRegions counts the frames in which anything was hidden.
	FramesWithRegions int `json:"frames_with_regions"`
	// HiddenWhole and Dropped count the frames the detector failed on.
	HiddenWhole int `json:"frames_hidden_whole"`
	Dropped     int `json:"frames_dropped"`
	// FPS is frames per second through the whole file (decode to encode).
	FPS float64 `json:"fps"`
	// Models lists every detector version that saw frames (more than one
	// when a model was swapped during the file).
	Models []convert.ModelInfo `json:"models"`
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
	// Videos counts the video files among the tasks above, Frames their
	// frames written, FramesHiddenWhole and FramesDropped the frames the
	// detector failed on (a video with such frames counts in HiddenWhole
	// or Dropped).
	Videos            int `json:"videos"`
	Frames            int `json:"frames"`
	FramesHiddenWhole int `json:"frames_hidden_whole"`
	FramesDropped     int `json:"frames_dropped"`
}

// Problems is the number of inputs that did not come out as intended.
func (s Summary) Problems() int { return s.Failed + s.HiddenWhole + s.Dropped }

// Run anonymizes every task and reports each result (report is called
// from one goroutine at a time): images with o.Jobs workers, and beside
// them videos one at a time (a video's frames already keep every core
// busy; two at once would only share them). Cancelling ctx stops starting
// new tasks; images in progress finish, a video in progress is stopped and
// reported failed, with nothing written. Temporary files that a killed run
// left in the output folders are removed first (RemoveStaleTemps).
func Run(ctx context.Context, det video.Detector, tasks []Task, o Options, report func(ImageResult)) Summary {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	RemoveStaleTemps(OutputDirs(tasks), StaleTempAge, o.Log)
	var (
		mu  sync.Mutex
		sum Summary
		wg  sync.WaitGroup
	)
	images, videos := make(chan Task), make(chan Task)
	worker := func(ch <-chan Task) {
		defer wg.Done()
		for t := range ch {
			r := Process(ctx, det, t, o)
			mu.Lock()
			sum.Add(r)
			switch {
			case r.Error != "" && ctx.Err() != nil:
				// Stopped (Ctrl-C, SIGTERM): how the file's pipes broke is
				// no error of the file's; the summary says the run stopped.
				o.Log.Warn("interrupted: not written", "file", r.Input)
			case r.Error != "":
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
	}
	for range jobs {
		wg.Add(1)
		go worker(images)
	}
	wg.Add(1)
	go worker(videos)
	feed := func(ch chan<- Task, video bool) {
		defer close(ch)
		for _, t := range tasks {
			if t.IsVideo() != video {
				continue
			}
			select {
			case <-ctx.Done():
				return
			case ch <- t:
			}
		}
	}
	go feed(videos, true)
	feed(images, false)
	wg.Wait()
	return sum
}

// add counts one result.
// Add counts the outcome r.
func (sum *Summary) Add(r ImageResult) {
	if r.Kind == KindVideo {
		sum.Videos++
	}
	if v := r.Video; v != nil {
		sum.Frames += v.Frames
		sum.FramesHiddenWhole += v.HiddenWhole
		sum.FramesDropped += v.Dropped
	}
	switch r.Status {
	case StatusDone, StatusHiddenWhole, StatusDropped:
		sum.Hidden += len(r.Detections)
		if r.Video != nil {
			sum.Hidden += r.Video.Regions
		}
	}
	switch r.Status {
	case StatusDone:
		sum.Done++
	case StatusSkipped:
		sum.Skipped++
	case StatusHiddenWhole:
		sum.HiddenWhole++
	case StatusDropped:
		sum.Dropped++
	default:
		sum.Failed++
	}
}

// ProcessOne anonymizes one task (as Run does for each) and returns
// its record. A video runs to its end; Process can stop it.
func ProcessOne(det video.Detector, t Task, o Options) ImageResult {
	return Process(context.Background(), det, t, o)
}

// Process is ProcessOne with a context, which stops a video in progress
// (nothing is written then); an image always finishes.
func Process(ctx context.Context, det video.Detector, t Task, o Options) ImageResult {
	if t.IsVideo() {
		return processVideo(ctx, det, t, o)
	}
	return processImage(det, t, o)
}

func processImage(det video.Detector, t Task, o Options) ImageResult {
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
	img, alpha, err := imageio.ReadAlphaMax(t.Input, o.MaxPixels)
	if err != nil {
		r.Output = ""
		return fail(StatusFailed, fmt.Errorf("read: %w", err))
	}
	defer img.Close()
	defer alpha.Close() // put back untouched: only the colour is anonymized
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
		if err := hide.All(&img, o.Hide); err != nil {
			r.Output = ""
			return fail(StatusFailed, err)
		}
		status = StatusHiddenWhole
	} else {
		r.Detections = dets
		if err := hide.Detections(&img, dets, o.Hide, hide.ForInfo(info, o.Hide)); err != nil {
			r.Output = ""
			return fail(StatusFailed, err)
		}
	}
	if err := writeImage(img, alpha, t.Output, o.JPEGQuality); err != nil {
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

// writeImage encodes img (with alpha, when not empty, as its fourth
// channel) in the format path names, atomically.
func writeImage(img, alpha gocv.Mat, path string, quality int) error {
	data, err := imageio.EncodeAlpha(img, alpha, filepath.Ext(path), quality)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, data, 0o644)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// SortResults orders audit records by input path.
func SortResults(rs []ImageResult) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Input < rs[j].Input })
}

// OutputMark is the file that marks a folder inside an input folder as
// anonymize's output: such a folder is left out of the walk, so the files
// in it are never read as inputs, and only a marked one may have files
// replaced (--overwrite).
const OutputMark = ".anonymize-output"

// GuardOutput protects an --out folder inside an input folder. Its files
// are left out of the walk; if it already holds files anonymize did not
// write (no OutputMark), overwriting could replace originals that were
// never anonymized, so with overwrite that is refused. A new or empty such
// folder is created and marked.
func GuardOutput(inputs []string, out string, overwrite bool) error {
	if out == "" {
		return nil
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	inside := false
	for _, in := range inputs {
		absIn, err := filepath.Abs(in)
		if err == nil && absIn != absOut && strings.HasPrefix(absOut, absIn+string(filepath.Separator)) {
			if st, err := os.Stat(in); err == nil && st.IsDir() {
				inside = true
			}
		}
	}
	if !inside {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, OutputMark)); err == nil {
		return nil
	}
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0):
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, OutputMark), []byte("anonymize writes its outputs here; this folder is not read as input\n"), 0o644)
	case err != nil:
		return err
	case overwrite:
		return fmt.Errorf("%w: --out %s lies inside an input folder and already holds files that anonymize did not write (no %s): they are not read as inputs, and --overwrite could replace them; choose a new or empty folder", ErrUsage, out, OutputMark)
	}
	return nil
}

// StaleTempAge is how long a temporary output file (imageio.IsTempName)
// must have gone unmodified before RemoveStaleTemps takes it for one left
// by a killed run. A writer that is alive writes to its file all the time
// (an image in well under a second, a video frame by frame), so an hour
// without a write means none is left; a second run writing into the same
// folder at the same time keeps its own files.
const StaleTempAge = time.Hour

// RemoveStaleTemps removes from the folders dirs (not below them) the
// temporary files of anonymize's own outputs that a killed run left
// there: only names of that pattern (imageio.IsTempName), only regular
// files, and only those last modified more than age ago. Each removal is
// logged; it returns how many were removed.
func RemoveStaleTemps(dirs []string, age time.Duration, log *slog.Logger) int {
	if log == nil {
		log = slog.Default()
	}
	n := 0
	cutoff := time.Now().Add(-age)
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // not there yet: nothing to clean
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !imageio.IsTempName(e.Name()) {
				continue
			}
			fi, err := e.Info()
			if err != nil || !fi.ModTime().Before(cutoff) {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err != nil {
				log.Warn("cannot remove a stale temporary file", "file", p, "err", err)
				continue
			}
			log.Info("removed a temporary file left by an interrupted run", "file", p, "modified", fi.ModTime().Format(time.RFC3339))
			n++
		}
	}
	return n
}

// OutputDirs lists the folders the tasks' outputs go to, each once.
func OutputDirs(tasks []Task) []string {
	var dirs []string
	seen := map[string]bool{}
	for _, t := range tasks {
		if t.Err != nil || t.Output == "" {
			continue
		}
		if d := filepath.Dir(t.Output); !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs
}
