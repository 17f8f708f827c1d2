package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/anonymize/anonymize/video/batch"
	"github.com/schollz/progressbar/v3"
)

// frameBar shows the frames of the video in progress on a terminal: one
// bar per video, with frames done, total and frames per second.
type frameBar struct {
	w      io.Writer
	videos int // videos in the run

	mu   sync.Mutex
	bar  *progressbar.ProgressBar
	task string
	n    int // videos started
}

// update is a BatchOptions.FrameProgress.
func (b *frameBar) update(t batch.Task, done, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil || t.Input != b.task {
		b.finishLocked()
		b.n++
		desc := filepath.Base(t.Input)
		if b.videos > 1 {
			desc = fmt.Sprintf("[%d/%d] %s", b.n, b.videos, desc)
		}
		size := int64(total)
		if size <= 0 {
			size = -1 // unknown: a spinner
		}
		b.bar = progressbar.NewOptions64(size, progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("fps"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		b.task = t.Input
	}
	_ = b.bar.Set(done)
	if total > 0 && done >= total {
		b.finishLocked()
	}
}

// finish clears the bar of the last video.
func (b *frameBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finishLocked()
}

func (b *frameBar) finishLocked() {
	if b.bar != nil {
		_ = b.bar.Finish()
		b.bar = nil
	}
}
