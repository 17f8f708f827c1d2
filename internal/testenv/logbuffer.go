package testenv

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// LogBuffer is a log shared between a running command (a run, the service,
// a pipeline) and the test, which reads it while it is written and can wait
// for a line to appear. The zero value is ready to use.
type LogBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed (and replaced) on each write
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
	}
	l.changed = make(chan struct{})
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger is a text logger writing to l.
func (l *LogBuffer) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// WaitFor waits until the log holds s, failing the test after timeout with
// the log so far.
func (l *LogBuffer) WaitFor(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		found, changed := strings.Contains(l.b.String(), s), l.changed
		l.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the log does not say %q within %v:\n%s", s, timeout, l.String())
		}
	}
}

// WaitFor polls cond until it holds, failing the test after d; logs, when
// not nil, is printed with the failure.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			if logs != nil {
				t.Fatalf("still waiting for %s after %v; log:\n%s", what, d, logs())
			}
			t.Fatalf("still waiting for %s after %v", what, d)
		}
		<-tick.C
	}
}
