// Package videotest holds the helpers that the tests of video's packages
// share: ffmpeg-made test clips and independent ffprobe readings. It imports
// none of video's packages, so that their own tests can use it.
package videotest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// NeedFFmpeg fails the test when ffmpeg or ffprobe is missing: videos are
// part of the product, not optional hardware.
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not installed (apt-get install ffmpeg): %v", b, err)
		}
	}
}

// FFmpegRun runs ffmpeg with args, failing the test on an error.
func FFmpegRun(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-hide_banner", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Metadata every test clip carries, none of which may reach an output.
var ClipMetadata = []string{
	"-metadata", "title=Secret meeting",
	"-metadata", "comment=filmed by J. Doe",
	"-metadata", "creation_time=2021-06-01T12:00:00Z",
	"-metadata", "location=+48.8584+002.2945/",
}

// ClipSpec describes a test clip.
type ClipSpec struct {
	Name       string // file name; its extension picks the container
	W, H       int
	Seconds    float64
	Rate       string
	VideoCodec []string
	AudioCodec []string // nil: no audio
	Delay      string   // the video starts this many seconds after the audio
}

// MakeClip writes the clip into dir and returns its path.
func MakeClip(t testing.TB, dir string, c ClipSpec) string {
	t.Helper()
	p := filepath.Join(dir, c.Name)
	var args []string
	if c.Delay != "" {
		args = append(args, "-itsoffset", c.Delay)
	}
	args = append(args, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate="+c.Rate+":duration="+ftoa(c.Seconds))
	if c.AudioCodec != nil {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+ftoa(c.Seconds))
	}
	args = append(args, "-vf", "scale="+itoa(c.W)+":"+itoa(c.H))
	args = append(args, c.VideoCodec...)
	if c.AudioCodec != nil {
		args = append(args, c.AudioCodec...)
	}
	args = append(args, ClipMetadata...)
	FFmpegRun(t, append(args, p)...)
	return p
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
func itoa(i int) string     { return strconv.Itoa(i) }

// X264 encodes a test clip with x264, fast.
var X264 = []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}

// Probed is what ffprobe says about a file, read independently of
// ffmpeg.Probe.
type Probed struct {
	Streams []struct {
		CodecType    string            `json:"codec_type"`
		CodecName    string            `json:"codec_name"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		RFrameRate   string            `json:"r_frame_rate"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		NbReadFrames string            `json:"nb_read_frames"`
		Duration     string            `json:"duration"`
		BitRate      string            `json:"bit_rate"`
		SampleRate   string            `json:"sample_rate"`
		Tags         map[string]string `json:"tags"`
		SideData     []struct {
			Rotation float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		Duration string            `json:"duration"`
		Tags     map[string]string `json:"tags"`
	} `json:"format"`
}

// FFprobeFile decodes every frame of path to count them (-count_frames).
func FFprobeFile(t testing.TB, path string) Probed {
	t.Helper()
	var p Probed
	ffprobeJSON(t, path, &p, "-count_frames", "-show_streams", "-show_format")
	return p
}

// ffprobeJSON runs ffprobe with args on path and decodes its JSON output
// into v, failing the test on an error.
func ffprobeJSON(t testing.TB, path string, v any, args ...string) {
	t.Helper()
	args = append(append([]string{"-v", "error", "-print_format", "json"}, args...), path)
	out, err := exec.Command("ffprobe", args...).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
}

// Leftovers lists the files in dir other than keep.
func Leftovers(t testing.TB, dir string, keep ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !slices.Contains(keep, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// StreamTiming is ffprobe's reading of one stream's timing.
type StreamTiming struct {
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	AvgFrameRate string `json:"avg_frame_rate"`
	NbFrames     string `json:"nb_frames"`
	StartTime    string `json:"start_time"`
	Duration     string `json:"duration"`
}

// FFprobeTiming reads the start, duration, rate and frame count of every
// stream of path.
func FFprobeTiming(t testing.TB, path string) []StreamTiming {
	t.Helper()
	var p struct {
		Streams []StreamTiming `json:"streams"`
	}
	ffprobeJSON(t, path, &p, "-show_entries", "stream=codec_type,codec_name,avg_frame_rate,nb_frames,start_time,duration")
	return p.Streams
}

// FramePTS is the presentation time in seconds of every frame of the first
// video stream of path, in order (ffprobe -show_frames).
func FramePTS(t testing.TB, path string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var pts []float64
	for _, l := range strings.Fields(string(out)) {
		// (a frame with side data prints a trailing empty field)
		f, err := strconv.ParseFloat(strings.TrimRight(l, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe %s: frame time %q: %v", path, l, err)
		}
		pts = append(pts, f)
	}
	return pts
}
