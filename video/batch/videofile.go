package batch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/ffmpeg"
	"github.com/anonymize/anonymize/video/imageio"
)

// FileOptions configure AnonymizeFile.
type FileOptions struct {
	// Encode chooses the encoder; its AudioFrom is ignored (KeepAudio
	// decides).
	Encode ffmpeg.EncodeOptions
	// KeepAudio copies the input's audio track(s) unchanged.
	KeepAudio bool
	// Pipeline runs the frames (workers, hiding, temporal safety, errors).
	Pipeline video.PipelineOptions
	// DetectMaxSide shrinks each frame for detection so that its longer
	// side is at most this many pixels (0: detect at full size). Regions
	// are still hidden in the full frame.
	DetectMaxSide int
	// TileSide: frames shrunk for detection also get one full-size tile
	// of this many pixels, in rotation (video.Schedule; 0: off). Look-ahead
	// (when on) is raised to cover the rotation.
	TileSide int
	// MaxPixels caps the frame size (width x height; 0:
	// imageio.DefaultMaxPixels): a file whose probed frames are larger is
	// refused before any frame is decoded.
	MaxPixels int64
	// Progress, when set, is told after each frame written and once at the
	// start (done 0), with the number of frames the file has.
	Progress func(done, total int)
	// OnFrame, when set, is called for every frame written, in order, with
	// the regions hidden in it (FrameResult.Detections, the tracker's kept
	// and looked-ahead regions included); the frame's Mat is closed by then.
	OnFrame func(video.Frame, video.FrameResult)
	Log     *slog.Logger
}

// FileResult says what AnonymizeFile did.
type FileResult struct {
	Info  ffmpeg.VideoInfo
	Codec string // the encoder used
	Stats video.PipelineStats
	// FramesWithDetections counts the frames in which anything was hidden
	// (detected there, or kept hidden for temporal safety).
	FramesWithDetections int
	// Models lists each detector (and version) that looked at frames, in
	// the order first seen: more than one when a model was swapped during
	// the file.
	Models []convert.ModelInfo
	// FPS is frames written per second of the whole run.
	FPS float64
}

// AnonymizeFile anonymizes the video file in into out: every frame is
// decoded (upright, at its display size), run through RunPipeline with
// det, and encoded at the same frame rate; the audio is copied unless
// o.KeepAudio is false. Only the rotation (by frames decoded upright) and
// the timing of the input are carried over: no other metadata.
//
// out appears only once complete; on any error (a truncated or corrupt
// input, a failed encoder, ctx cancelled) nothing is left at out or
// beside it, and the error names the file.
func AnonymizeFile(ctx context.Context, det video.Detector, in, out string, o FileOptions) (FileResult, error) {
	start := time.Now()
	if o.Log == nil {
		o.Log = slog.Default()
	}
	info, err := ffmpeg.Probe(ctx, in)
	if err != nil {
		return FileResult{}, err
	}
	res := FileResult{Info: info}
	if err := checkFrameSize(info, o.MaxPixels); err != nil {
		return res, err
	}
	src, err := ffmpeg.Open(ctx, info)
	if err != nil {
		return res, err
	}
	defer src.Close()
	e, err := openEncoder(ctx, in, out, info, o)
	if err != nil {
		return res, err
	}
	defer e.Abort() // after a successful Close it does nothing
	res.Codec = e.Codec()

	sched := video.NewSchedule(det, o.DetectMaxSide, o.TileSide)
	if p := sched.Period(info.DisplayWidth, info.DisplayHeight); p > 0 && o.Pipeline.Lookahead > 0 {
		// A face may first be seen at full size up to p-1 frames after it
		// appears: look-ahead hides it from its first frame.
		o.Pipeline.Lookahead = max(o.Pipeline.Lookahead, p-1)
	}
	det = sched
	sink := &ffmpeg.Sink{Encoder: e, Recycle: src.Recycle}
	sink.OnFrame = res.onFrame(e, info.Frames, o.Progress, o.OnFrame)
	if o.Progress != nil {
		o.Progress(0, info.Frames)
	}
	st, err := video.RunPipeline(ctx, src, det, sink, o.Pipeline)
	res.Stats = st
	if err != nil {
		return res, fmt.Errorf("anonymize %s: %w", in, err)
	}
	if err := sink.Close(); err != nil {
		return res, err
	}
	res.Stats.Elapsed = time.Since(start)
	if s := res.Stats.Elapsed.Seconds(); s > 0 {
		res.FPS = float64(st.Written) / s
	}
	return res, nil
}

// openEncoder starts the encoder of out for the video in (info from Probe),
// with in's audio when o.KeepAudio is set and it has audio, and logs a
// change of encoder from the one asked for.
func openEncoder(ctx context.Context, in, out string, info ffmpeg.VideoInfo, o FileOptions) (*ffmpeg.Encoder, error) {
	enc := o.Encode
	enc.AudioFrom = ""
	if o.KeepAudio && info.HasAudio {
		enc.AudioFrom = in
	}
	e, err := ffmpeg.NewEncoderFor(ctx, out, info, enc)
	if err != nil {
		return nil, err
	}
	if want := o.Encode.Codec; want != "" && want != e.Codec() {
		o.Log.Info("video encoder changed", "file", out, "asked", want, "using", e.Codec())
	}
	return e, nil
}

// onFrame is the sink's OnFrame for a file: it counts into res the frames
// with detections and the models that ran (each once), and tells progress
// (when set) how many of total frames e has written, then calls hook (when
// set).
func (res *FileResult) onFrame(e *ffmpeg.Encoder, total int, progress func(done, total int), hook func(video.Frame, video.FrameResult)) func(video.Frame, video.FrameResult) {
	seen := map[string]bool{}
	return func(f video.Frame, r video.FrameResult) {
		if len(r.Detections) > 0 {
			res.FramesWithDetections++
		}
		if k := r.Model.Name + "\x00" + r.Model.Version + "\x00" + r.Model.SHA256; r.Model.Name != "" && !seen[k] {
			seen[k] = true
			res.Models = append(res.Models, r.Model)
		}
		if progress != nil {
			progress(e.Frames(), total)
		}
		if hook != nil {
			hook(f, r)
		}
	}
}

// checkFrameSize refuses a video whose frames are over the pixel cap.
func checkFrameSize(info ffmpeg.VideoInfo, maxPixels int64) error {
	if maxPixels <= 0 {
		maxPixels = imageio.DefaultMaxPixels
	}
	if px := int64(info.Width) * int64(info.Height); px > maxPixels {
		return fmt.Errorf("%s: %w: %dx%d frames (%d pixels) are over the %d-pixel limit (max_pixels)", info.Path, imageio.ErrTooManyPixels, info.Width, info.Height, px, maxPixels)
	}
	return nil
}

// processVideo anonymizes one video task (Run, Process).
func processVideo(ctx context.Context, det video.Detector, t Task, o Options) ImageResult {
	start := time.Now()
	r := ImageResult{Input: t.Input, Output: t.Output, Kind: KindVideo, Detections: []convert.Detection{}}
	fail := func(err error) ImageResult {
		r.Output, r.Status, r.Error = "", StatusFailed, err.Error()
		r.Millis = ms(time.Since(start))
		return r
	}
	if t.Err != nil {
		return fail(t.Err)
	}
	if !o.Overwrite {
		if _, err := os.Stat(t.Output); err == nil {
			r.Status = StatusSkipped
			return r
		}
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	v := o.Video
	if v.Detector != nil {
		det = v.Detector
	}
	fr, err := AnonymizeFile(ctx, det, t.Input, t.Output, fileOptions(t, o))
	r.Width, r.Height = fr.Info.DisplayWidth, fr.Info.DisplayHeight
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("anonymize %s: interrupted (%w): nothing written", t.Input, context.Cause(ctx))
	}
	if err != nil {
		return fail(err)
	}
	r.Video = videoResult(fr, v.KeepAudio)
	if len(fr.Models) > 0 {
		m := fr.Models[len(fr.Models)-1]
		r.Model = &m
	}
	r.Status, r.Error = videoStatus(fr.Stats)
	r.Millis = ms(time.Since(start))
	return r
}

// fileOptions are the options for AnonymizeFile of the video task t in a
// run with o.
func fileOptions(t Task, o Options) FileOptions {
	v := o.Video
	fo := FileOptions{
		Encode: v.Encode, KeepAudio: v.KeepAudio, DetectMaxSide: v.DetectMaxSide, TileSide: v.TileSide, MaxPixels: o.MaxPixels, Log: o.Log,
		Pipeline: video.PipelineOptions{
			Workers: v.Workers, Hide: o.Hide,
			Persist: v.Persist, Lookahead: v.Lookahead,
			DropOnError: o.DropOnError, Timeout: v.Timeout,
		},
	}
	if o.FrameProgress != nil {
		fo.Progress = func(done, total int) { o.FrameProgress(t, done, total) }
	}
	return fo
}

// videoResult is what the result of a video file says about the video.
func videoResult(fr FileResult, keepAudio bool) *VideoResult {
	st := fr.Stats
	vr := &VideoResult{
		Frames: st.Written, FramesRead: st.Read, FrameRate: fr.Info.FrameRate.String(),
		Seconds: fr.Info.Duration.Seconds(), Rotation: fr.Info.Rotation,
		Audio: keepAudio && fr.Info.HasAudio, Codec: fr.Codec,
		Regions: st.Detections, Persisted: st.Persisted, LookedAhead: st.LookedAhead,
		FramesWithRegions: fr.FramesWithDetections,
		HiddenWhole:       st.HiddenWhole, Dropped: st.Dropped, FPS: math.Round(fr.FPS*10) / 10,
		Models: fr.Models,
	}
	if vr.Models == nil {
		vr.Models = []convert.ModelInfo{}
	}
	return vr
}

// videoStatus is the status of a video written with st, and the error
// that says why when frames were left out or hidden whole.
func videoStatus(st video.PipelineStats) (status, msg string) {
	switch {
	case st.Dropped > 0:
		return StatusDropped, fmt.Sprintf("detect failed on %d of %d frames (left out of the video)", st.Dropped, st.Read)
	case st.HiddenWhole > 0:
		return StatusHiddenWhole, fmt.Sprintf("detect failed on %d of %d frames (hidden whole)", st.HiddenWhole, st.Read)
	}
	return StatusDone, ""
}
