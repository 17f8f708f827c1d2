package eval

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
)

// VideoOptions configure RunVideo.
type VideoOptions struct {
	// Width and Height are the clip's frame size.
	Width, Height int
	// FramesPerPhoto is how many frames each photo stays on screen (0:
	// 11). It is raised where need be so that the middle frame, the one
	// scored, is out of reach of the tracker's persist and look-ahead
	// from the photos before and after.
	FramesPerPhoto int
	// FPS is the clip's frame rate (0: 30).
	FPS float64
	// Scale, in (0, 1), shrinks each photo to this share of the size it
	// would fill the frame at (0 or 1: it fills the frame); its labels are
	// scaled as Options.Scale scales them.
	Scale float64
	// MaxPixels caps each photo's width x height, as in Options.
	MaxPixels int64
	// File is how the clip is anonymized: what batch.VideoFile builds for
	// a run. Its Pipeline.Hide is the mask scored; its OnFrame, when set,
	// is called as well.
	File batch.FileOptions
	// TempDir holds the clip and its anonymized copy while RunVideo runs
	// ("": os.TempDir()).
	TempDir string
}

// VideoStats describe the clip RunVideo made and how its run went.
type VideoStats struct {
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	FramesPerPhoto int     `json:"frames_per_photo"`
	FrameRate      float64 `json:"frame_rate"`
	// Frames were written by AnonymizeFile in Seconds: FPS frames a second
	// (the clip's own encoding, ClipSeconds, not counted).
	Frames      int     `json:"frames"`
	Seconds     float64 `json:"seconds"`
	FPS         float64 `json:"fps"`
	ClipSeconds float64 `json:"clip_seconds"`
	Codec       string  `json:"codec"`
	HiddenWhole int     `json:"hidden_whole"`
	Dropped     int     `json:"dropped"`
	// HeightsIn says what the by_height buckets measure.
	HeightsIn string `json:"heights_in"`
}

// shot is one photo's run of frames in the clip.
type shot struct {
	ie         imageEval
	pw, ph     int             // the photo's size (after Scale), the labels' pixels
	at         image.Rectangle // where it lies in the frame
	first, mid int             // its first frame and the one scored
}

// RunVideo measures what the video-file path hides: each labelled photo
// under dir is fitted into a Width x Height frame (aspect kept, centred
// on black) and repeated FramesPerPhoto times in a clip, the clip is
// anonymized by batch.AnonymizeFile with det and o.File, and the middle
// frame of each photo's run is scored with the regions hidden in it,
// mapped back to the photo's pixels. Frames are streamed: memory does not
// grow with the number of photos.
func RunVideo(ctx context.Context, det video.Detector, dir string, labels Labels, o VideoOptions) (Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp(o.TempDir, "anonymize-eval-")
	if err != nil {
		return Result{}, fmt.Errorf("eval video: %w", err)
	}
	defer os.RemoveAll(tmp)
	clip := filepath.Join(tmp, "clip.mp4")
	start := time.Now()
	shots, err := writeClip(ctx, clip, dir, sortedNames(labels), labels, o)
	if err != nil {
		return Result{}, err
	}
	clipTime := time.Since(start)
	seen := map[int]video.FrameResult{}
	fo := o.File
	fo.OnFrame = recordMiddles(shots, seen, o.File.OnFrame)
	fr, err := batch.AnonymizeFile(ctx, det, clip, filepath.Join(tmp, "anonymized.mp4"), fo)
	if err != nil {
		return Result{}, err
	}
	res := make([]imageEval, len(shots))
	for i := range shots {
		res[i] = shots[i].score(seen, fo.Pipeline.Hide)
	}
	r := summarize(det.Info(), res, o.Scale)
	r.Video = videoStats(o, fr, clipTime)
	if r.Images > 0 {
		r.MsPerImage = fr.Stats.Elapsed.Seconds() * 1000 / float64(r.Images)
	}
	if r.Images == 0 {
		return r, fmt.Errorf("no image could be evaluated: %s", firstOr(r.Failed, "no labelled images"))
	}
	return r, nil
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// withDefaults fills in o's defaults and checks it.
func (o VideoOptions) withDefaults() (VideoOptions, error) {
	if o.Width <= 0 || o.Height <= 0 {
		return o, fmt.Errorf("eval video: frame size %dx%d: want both sides positive", o.Width, o.Height)
	}
	if o.Scale < 0 || o.Scale > 1 || math.IsNaN(o.Scale) {
		return o, fmt.Errorf("eval video: scale %g: want 0 < scale <= 1", o.Scale)
	}
	if o.FramesPerPhoto <= 0 {
		o.FramesPerPhoto = 11
	}
	// No region of a neighbouring photo may reach the scored frame: not by
	// persistence, look-ahead, or the hold of a tile's face until its tile
	// comes round again (video.Schedule, which raises look-ahead to match).
	p := o.File.Pipeline
	period := video.NewSchedule(nil, o.File.DetectMaxSide, o.File.TileSide).Period(o.Width, o.Height)
	o.FramesPerPhoto = max(o.FramesPerPhoto, 2*max(p.Persist, p.Lookahead, period)+1)
	if o.FPS <= 0 {
		o.FPS = 30
	}
	return o, nil
}

// recordMiddles is the OnFrame that keeps the result of each shot's
// middle frame in seen, then calls next (when set).
func recordMiddles(shots []shot, seen map[int]video.FrameResult, next func(video.Frame, video.FrameResult)) func(video.Frame, video.FrameResult) {
	mids := map[int]bool{}
	for _, s := range shots {
		if s.ie.err == nil {
			mids[s.mid] = true
		}
	}
	return func(f video.Frame, r video.FrameResult) {
		if mids[f.Index] {
			r.Detections = append([]convert.Detection(nil), r.Detections...)
			seen[f.Index] = r
		}
		if next != nil {
			next(f, r)
		}
	}
}

func videoStats(o VideoOptions, fr batch.FileResult, clip time.Duration) *VideoStats {
	st := fr.Stats
	return &VideoStats{
		Width: o.Width, Height: o.Height, FramesPerPhoto: o.FramesPerPhoto, FrameRate: o.FPS,
		Frames: st.Written, Seconds: st.Elapsed.Seconds(), FPS: fr.FPS, ClipSeconds: clip.Seconds(),
		Codec: fr.Codec, HiddenWhole: st.HiddenWhole, Dropped: st.Dropped,
		HeightsIn: "labelled face height in the source photo (after scale), px",
	}
}

// score scores s with the regions hidden in its middle frame (in seen),
// mapped from the frame to the photo's pixels and masked as def (or their
// model's own style) would mask them. A frame hidden whole counts as
// masked all over; a frame not written (dropped) fails the photo.
func (s shot) score(seen map[int]video.FrameResult, def hide.Options) imageEval {
	ie := s.ie
	if ie.err != nil {
		return ie
	}
	r, ok := seen[s.mid]
	if !ok {
		ie.err = errors.New("its middle frame was not written (dropped after a detector error)")
		return ie
	}
	var mask []uint8
	if r.HiddenWhole {
		mask = make([]uint8, s.pw*s.ph)
		for i := range mask {
			mask[i] = 255
		}
	} else {
		mask = maskOf(s.toPhoto(r.Detections), s.pw, s.ph, def, hide.ForInfo(r.Model, def))
	}
	ie.score(mask, s.pw, s.ph)
	return ie
}

// toPhoto maps detections from frame pixels to the photo's.
func (s shot) toPhoto(dets []convert.Detection) []convert.Detection {
	fx := float32(s.pw) / float32(s.at.Dx())
	fy := float32(s.ph) / float32(s.at.Dy())
	ox, oy := float32(s.at.Min.X), float32(s.at.Min.Y)
	out := make([]convert.Detection, len(dets))
	for i, d := range dets {
		b := d.Box
		d.Box = convert.Box{X1: (b.X1 - ox) * fx, Y1: (b.Y1 - oy) * fy, X2: (b.X2 - ox) * fx, Y2: (b.Y2 - oy) * fy}
		d.Keypoints = nil
		out[i] = d
	}
	return out
}

// writeClip writes the clip of the labelled photos names (under dir) into
// path, each fitted into the frame and repeated o.FramesPerPhoto times,
// with libx264 at CRF 10 (so the clip's own encoding hides nothing), and
// returns the shots. A photo that cannot be read is a shot with its error
// and no frames.
func writeClip(ctx context.Context, path, dir string, names []string, labels Labels, o VideoOptions) ([]shot, error) {
	enc, err := ffmpeg.NewEncoder(path, o.Width, o.Height, o.FPS, ffmpeg.EncodeOptions{Codec: "libx264", Preset: "ultrafast", CRF: 10})
	if err != nil {
		return nil, fmt.Errorf("eval video: write the clip: %w", err)
	}
	defer enc.Abort()
	frame := gocv.NewMatWithSize(o.Height, o.Width, gocv.MatTypeCV8UC3)
	defer frame.Close()
	fitted := gocv.NewMat()
	defer fitted.Close()
	shots := make([]shot, 0, len(names))
	next := 0
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := placePhoto(&frame, &fitted, filepath.Join(dir, name), name, labels[name], o)
		if err == nil {
			s.first, s.mid = next, next+o.FramesPerPhoto/2
			err = writeRepeated(enc, frame, o.FramesPerPhoto)
			next += o.FramesPerPhoto
		}
		if err != nil {
			s.ie.err = err
		}
		shots = append(shots, s)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("eval video: write the clip: %w", err)
	}
	return shots, nil
}

func writeRepeated(enc *ffmpeg.Encoder, frame gocv.Mat, n int) error {
	for range n {
		if err := enc.Write(frame); err != nil {
			return fmt.Errorf("eval video: write the clip: %w", err)
		}
	}
	return nil
}

// placePhoto draws the photo at path into frame (black elsewhere): fitted,
// aspect kept and centred, then shrunk by o.Scale; fitted is scratch.
func placePhoto(frame, fitted *gocv.Mat, path, name string, faces []convert.Box, o VideoOptions) (shot, error) {
	s := shot{ie: imageEval{name: name}}
	full, err := imageio.ReadMax(path, o.MaxPixels)
	if err != nil {
		return s, err
	}
	defer full.Close()
	var sx, sy float32
	s.pw, s.ph, sx, sy = scaledSize(full.Cols(), full.Rows(), o.Scale)
	s.ie.faces, s.ie.tooSmall = ScaleBoxes(faces, sx, sy)
	// The fit is that of the whole photo, so a scaled one takes o.Scale of
	// the frame it would fill; one resampling from the photo as read.
	k := min(float64(o.Width)/float64(full.Cols()), float64(o.Height)/float64(full.Rows()))
	if o.Scale > 0 {
		k *= o.Scale
	}
	fw := min(o.Width, max(1, int(math.Round(float64(full.Cols())*k))))
	fh := min(o.Height, max(1, int(math.Round(float64(full.Rows())*k))))
	interp := gocv.InterpolationLinear
	if k < 1 {
		interp = gocv.InterpolationArea
	}
	gocv.Resize(full, fitted, image.Pt(fw, fh), 0, 0, interp)
	s.at = image.Rect((o.Width-fw)/2, (o.Height-fh)/2, (o.Width-fw)/2+fw, (o.Height-fh)/2+fh)
	frame.SetTo(gocv.NewScalar(0, 0, 0, 0))
	roi := frame.Region(s.at)
	fitted.CopyTo(&roi)
	roi.Close()
	return s, nil
}
