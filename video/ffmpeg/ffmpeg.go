// Package ffmpeg decodes and encodes video files with ffmpeg processes (and
// probes them with ffprobe), frames passing through pipes raw: ffmpeg reads
// every container and codec it was built with, applies the rotation of phone videos while decoding, encodes
// with x264's fast presets (OpenCV's VideoWriter only runs x264 at its slow
// default), and copies the audio track in the same step.
//
// Frames keep their times: the decoder lists each frame's presentation time
// beside the raw frames (timestamps.go), and the encoder reads the frames
// as a Matroska stream that times each one (mkv.go), so constant and
// variable frame rates alike come out as they went in.
//
// Frames of even width and height pass as planar YUV 4:2:0 (I420), which
// OpenCV converts to and from BGR here: half the bytes of BGR through each
// pipe, and OpenCV's conversions cost less than ffmpeg's swscale ones, which
// then have nothing left to do. Odd sizes, which 4:2:0 cannot hold, pass as
// BGR.
package ffmpeg

import (
	"bufio"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// rawI420 reports whether w x h frames pass through the pipes as I420.
func rawI420(w, h int) bool { return w%2 == 0 && h%2 == 0 }

// rawFormat is the ffmpeg pixel format and the bytes of a w x h raw frame.
func rawFormat(w, h int) (string, int) {
	if rawI420(w, h) {
		return "yuv420p", w * h * 3 / 2
	}
	return "bgr24", w * h * 3
}

// ErrNotInstalled means ffmpeg or ffprobe is not installed (not in PATH).
var ErrNotInstalled = errors.New("ffmpeg is not installed (videos need ffmpeg and ffprobe in PATH)")

// ErrCorrupt means a video file is truncated or damaged: its decoder
// reported errors, or it ended before its last frame.
var ErrCorrupt = errors.New("truncated or corrupt video")

func lookFFmpeg(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	return p, nil
}

// stderrTail keeps the end of a process's stderr.
type stderrTail struct {
	mu  sync.Mutex
	buf []byte
}

const stderrKeep = 8 << 10

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*stderrKeep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-stderrKeep:]...)
	}
	return len(p), nil
}

func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lastLines is the last n non-empty lines of s, joined by "; ".
func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// pipeSize is the pipe buffer asked for (Linux's default is 64 KiB, a
// 1080p frame 6 MiB: fewer, larger transfers cost less).
const pipeSize = 1 << 20

// growPipe enlarges a pipe's buffer where the system allows it.
func growPipe(p any) {
	sc, ok := p.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		const fSetPipeSz = 1031 // F_SETPIPE_SZ
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, pipeSize)
	})
}
