package ffmpeg

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// The decoder's ffmpeg writes, beside the raw frames (which carry no
// time), a second output of the same frames: ffmpeg's framecrc listing,
// one line per frame with its presentation time in the stream's time
// base, read here in order. Its frames are wrapped_avframe "packets"
// (references to the decoded frames, a few hundred bytes), so the listing
// costs next to nothing.

// noPTS is how framecrc prints a frame without a time (AV_NOPTS_VALUE).
const noPTS = math.MinInt64

// unknownPTS stands for the time of a frame that has none (noPTS), on
// the channel of times: no time a frame can have (-1 ns can, in a time
// base of nanoseconds).
const unknownPTS = time.Duration(math.MinInt64)

// readPTS reads a framecrc listing and sends each frame's time
// (unknownPTS when it has none) on ch, which it closes at the end of the
// listing. It stops early when done is closed.
func readPTS(r io.Reader, ch chan<- time.Duration, done <-chan struct{}) {
	defer close(ch)
	tb := Rational{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "#tb 0:"); ok {
			tb, _ = ParseRational(rest)
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		pts, ok := framecrcPTS(line, tb)
		if !ok {
			pts = unknownPTS
		}
		select {
		case ch <- pts:
		case <-done:
			return
		}
	}
}

// framecrcPTS reads the pts of a framecrc line ("stream, dts, pts,
// duration, size, crc") in the time base tb; false when it has none.
func framecrcPTS(line string, tb Rational) (time.Duration, bool) {
	f := strings.Split(line, ",")
	if len(f) < 3 || !tb.Valid() {
		return 0, false
	}
	pts, err := strconv.ParseInt(strings.TrimSpace(f[2]), 10, 64)
	if err != nil || pts == noPTS {
		return 0, false
	}
	return ticks(pts, tb), true
}

// ticks is n ticks of tb as a duration, rounded to the nearest
// nanosecond (halves away from zero, for negative times too).
func ticks(n int64, tb Rational) time.Duration {
	num, den := n*int64(tb.Num), int64(tb.Den)
	q, r := num/den, num%den
	half := den / 2
	if r < 0 {
		half = -half
	}
	return time.Duration(q)*time.Second + time.Duration((r*int64(time.Second)+half)/den)
}

// ptsArgs are the decoder's outputs of the frames of the filter graph
// labels t (their times, to fd 3) and v (raw, pixFmt, to stdout), both
// timed in tb. The times come first: ffmpeg writes each frame to its
// outputs in their order, so a frame's time is out (flushed) before the
// frame, and the reader of a frame never waits for its time while ffmpeg
// waits to write the next frames (frames come in bursts, at the end).
func ptsArgs(pixFmt string, tb Rational) []string {
	timing := []string{"-fps_mode", "passthrough", "-enc_time_base:v", tb.String()}
	args := append([]string{"-map", "[t]"}, timing...)
	args = append(args, "-c:v", "wrapped_avframe", "-flush_packets", "1", "-f", "framecrc", "pipe:3", "-map", "[v]")
	args = append(args, timing...)
	return append(args, "-f", "rawvideo", "-pix_fmt", pixFmt, "pipe:1")
}

// errNoPTS is the error of a frame whose time never came.
func errNoPTS(frame int) error {
	return fmt.Errorf("frame %d: the decoder gave no time for it", frame)
}
