package ffmpeg

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// VideoInfo describes a video file's first video stream (from ffprobe).
type VideoInfo struct {
	Path  string `json:"-"`
	Codec string `json:"codec"`
	// Width and Height are the frame size as stored.
	Width  int `json:"-"`
	Height int `json:"-"`
	// Rotation is how far stored frames turn clockwise for display: 0, 90,
	// 180 or 270 (a phone held upright records 90).
	Rotation int `json:"rotation,omitempty"`
	// DisplayWidth and DisplayHeight are the size shown (Width and Height
	// swapped for 90 and 270); decoded frames come at this size, upright.
	DisplayWidth  int `json:"width"`
	DisplayHeight int `json:"height"`
	// FrameRate is the average rate (frames over duration), or the
	// stream's base rate when the average is not known.
	FrameRate Rational `json:"-"`
	// TimeBase is the unit of the stream's timestamps (seconds per tick):
	// frames are decoded and encoded with their times in it.
	TimeBase Rational `json:"-"`
	// Frames is the number of frames (from the container's index, or
	// counted packet by packet where the container has no count).
	Frames int `json:"frames"`
	// Duration of the video stream (or of the file when the stream's is
	// not known).
	Duration time.Duration `json:"-"`
	// StartOffset is how far the video stream starts after the earliest
	// stream of the file (usually 0).
	StartOffset time.Duration `json:"-"`
	// VideoStart is the video stream's start time, on the clock of the
	// frames' PTS (the decoder's); with StartOffset it places the first
	// frame of an encoded copy even when frames before it were dropped.
	VideoStart time.Duration `json:"-"`
	HasAudio   bool          `json:"audio"`
	AudioCodec string        `json:"audio_codec,omitempty"`
}

type probeJSON struct {
	Streams []probeStream `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		StartTime  string `json:"start_time"`
	} `json:"format"`
}

// probeStream is one stream in ffprobe -show_streams.
type probeStream struct {
	Index         int               `json:"index"`
	CodecType     string            `json:"codec_type"`
	CodecName     string            `json:"codec_name"`
	Width         int               `json:"width"`
	Height        int               `json:"height"`
	RFrameRate    string            `json:"r_frame_rate"`
	AvgFrameRate  string            `json:"avg_frame_rate"`
	TimeBase      string            `json:"time_base"`
	NbFrames      string            `json:"nb_frames"`
	NbReadPackets string            `json:"nb_read_packets"`
	Duration      string            `json:"duration"`
	StartTime     string            `json:"start_time"`
	Tags          map[string]string `json:"tags"`
	Disposition   map[string]int    `json:"disposition"`
	SideData      []struct {
		Type     string  `json:"side_data_type"`
		Rotation float64 `json:"rotation"`
	} `json:"side_data_list"`
}

// Probe reads what the video pipeline needs to know about a video file.
// A file ffprobe cannot read, or one without a video stream, is an error
// naming the file.
func Probe(ctx context.Context, path string) (VideoInfo, error) {
	ffprobe, err := lookFFmpeg("ffprobe")
	if err != nil {
		return VideoInfo{}, err
	}
	out, err := runProbe(ctx, ffprobe, "-show_streams", "-show_format", path)
	if err != nil {
		return VideoInfo{}, fmt.Errorf("probe %s: %w", path, err)
	}
	var pj probeJSON
	if err := json.Unmarshal(out, &pj); err != nil {
		return VideoInfo{}, fmt.Errorf("probe %s: %w", path, err)
	}
	info := VideoInfo{Path: path}
	vi := pickStreams(pj.Streams, &info)
	if vi < 0 {
		return VideoInfo{}, fmt.Errorf("probe %s: %w: no video stream", path, ErrCorrupt)
	}
	s := pj.Streams[vi]
	info.Codec, info.Width, info.Height = s.CodecName, s.Width, s.Height
	if info.Width <= 0 || info.Height <= 0 {
		return VideoInfo{}, fmt.Errorf("probe %s: %w: video stream has no frame size", path, ErrCorrupt)
	}
	info.Rotation = rotation(s)
	info.TimeBase, _ = ParseRational(s.TimeBase)
	info.DisplayWidth, info.DisplayHeight = info.Width, info.Height
	if info.Rotation == 90 || info.Rotation == 270 {
		info.DisplayWidth, info.DisplayHeight = info.Height, info.Width
	}

	info.Duration = seconds(s.Duration)
	if info.Duration == 0 {
		info.Duration = matroskaDuration(s.Tags["DURATION"])
	}
	if info.Duration == 0 {
		info.Duration = seconds(pj.Format.Duration)
	}
	if st, fst := seconds(s.StartTime), seconds(pj.Format.StartTime); st > fst {
		info.StartOffset = st - fst
	}
	info.VideoStart = seconds(s.StartTime)
	if info.Frames, err = countFrames(ctx, ffprobe, path, s, pj.Format.FormatName); err != nil {
		return VideoInfo{}, fmt.Errorf("probe %s: count frames: %w", path, err)
	}
	var ok bool
	if info.FrameRate, ok = frameRate(s, info); !ok {
		return VideoInfo{}, fmt.Errorf("probe %s: %w: no frame rate", path, ErrCorrupt)
	}
	return info, nil
}

// pickStreams returns the index of the first video stream that is not cover
// art (-1: none), and notes the first audio stream in info.
func pickStreams(streams []probeStream, info *VideoInfo) int {
	vi := -1
	for i, s := range streams {
		switch s.CodecType {
		case "video":
			// Cover art in an audio file is a "video" stream of one picture.
			if vi < 0 && s.Disposition["attached_pic"] == 0 {
				vi = i
			}
		case "audio":
			if !info.HasAudio {
				info.HasAudio, info.AudioCodec = true, s.CodecName
			}
		}
	}
	return vi
}

// rotation is the stream's display rotation, clockwise, in whole quarter
// turns: 0, 90, 180 or 270.
func rotation(s probeStream) int {
	rot := 0.0
	if r, ok := s.Tags["rotate"]; ok { // older ffprobe: degrees clockwise
		if v, err := strconv.ParseFloat(r, 64); err == nil {
			rot = v
		}
	}
	for _, sd := range s.SideData {
		if sd.Type == "Display Matrix" { // degrees counter-clockwise
			rot = -sd.Rotation
		}
	}
	return ((int(math.Round(rot/90))%4 + 4) % 4) * 90
}

// countFrames is the number of frames in the video stream s of the file at
// path (formatName: its container), 0 when ffprobe does not say.
func countFrames(ctx context.Context, ffprobe, path string, s probeStream, formatName string) (int, error) {
	// MP4 and QuickTime index every frame; Matroska and WebM keep no
	// count, and AVI's header may count a frame more than there is.
	frames := 0
	if strings.Contains(formatName, "mp4") {
		frames, _ = strconv.Atoi(s.NbFrames)
	}
	if frames <= 0 {
		out, err := runProbe(ctx, ffprobe, "-count_packets", "-select_streams", strconv.Itoa(s.Index), "-show_entries", "stream=nb_read_packets", path)
		if err != nil {
			return 0, err
		}
		var pc probeJSON
		if err := json.Unmarshal(out, &pc); err == nil && len(pc.Streams) > 0 {
			frames, _ = strconv.Atoi(pc.Streams[0].NbReadPackets)
		}
	}
	return frames, nil
}

// frameRate is the stream's frame rate: its average rate, else its base
// rate (either only up to 1000 fps), else frames over duration from info;
// false when there is none.
func frameRate(s probeStream, info VideoInfo) (Rational, bool) {
	avg, errAvg := ParseRational(s.AvgFrameRate)
	base, errBase := ParseRational(s.RFrameRate)
	switch {
	case errAvg == nil && avg.Float() <= 1000:
		return avg, true
	case errBase == nil && base.Float() <= 1000:
		return base, true
	case info.Frames > 0 && info.Duration > 0:
		return RationalOf(float64(info.Frames) / info.Duration.Seconds()), true
	}
	return Rational{}, false
}

func runProbe(ctx context.Context, ffprobe string, args ...string) ([]byte, error) {
	args = append([]string{"-v", "error", "-print_format", "json"}, args...)
	cmd := exec.CommandContext(ctx, ffprobe, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if msg := lastLines(stderr.String(), 3); msg != "" {
			return nil, fmt.Errorf("%w: %s", ErrCorrupt, msg)
		}
		return nil, err
	}
	return out, nil
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// matroskaDuration reads Matroska's "HH:MM:SS.nnnnnnnnn" stream tag.
func matroskaDuration(s string) time.Duration {
	var h, m int
	var sec float64
	if _, err := fmt.Sscanf(s, "%d:%d:%f", &h, &m, &sec); err != nil {
		return 0
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second))
}
