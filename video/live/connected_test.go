package live

import (
	"context"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/internal/testenv"
)

// steppedCapture gives a frame for each true sent on step and fails (the
// stream is lost) on false; it returns false once stop is closed.
type steppedCapture struct {
	tmpl gocv.Mat
	step <-chan bool
	stop <-chan struct{}
}

func (c steppedCapture) Read(m *gocv.Mat) bool {
	select {
	case ok := <-c.step:
		if ok {
			c.tmpl.CopyTo(m)
		}
		return ok
	case <-c.stop:
		return false
	}
}

func (c steppedCapture) FPS() float64 { return 0 }
func (c steppedCapture) Close() error { return nil }

// TestLiveConnected: Connected is false until the source is opened, true
// while frames flow, false from the moment it is lost until it is
// reopened, and true again after (what /readyz of a live run follows).
func TestLiveConnected(t *testing.T) {
	tmpl := liveTemplate(32, 24)
	defer tmpl.Close()
	var log testenv.LogBuffer
	allow, step, stop := make(chan struct{}), make(chan bool), make(chan struct{})
	open := func() (Capture, error) {
		select {
		case <-allow:
		case <-stop:
		}
		return steppedCapture{tmpl, step, stop}, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	src := Start(ctx, nil, open, Options{Name: "stepped", ReconnectMin: time.Millisecond, Log: log.Logger()})
	defer func() { cancel(); close(stop); src.Close() }()
	read := func() {
		t.Helper()
		f, err := src.Read()
		if err != nil {
			t.Fatal(err)
		}
		f.Mat.Close()
	}
	if src.Connected() {
		t.Error("connected before the source was opened")
	}
	allow <- struct{}{}
	step <- true
	read()
	if !src.Connected() {
		t.Error("not connected while frames flow")
	}
	step <- false // lost
	log.WaitFor(t, "live source lost", 10*time.Second)
	if src.Connected() {
		t.Error("connected while the source is lost and being reopened")
	}
	allow <- struct{}{}
	step <- true
	read()
	if !src.Connected() || src.Stats().Reconnects != 1 {
		t.Errorf("after the reconnect: connected %v, %d reconnects; want true and 1", src.Connected(), src.Stats().Reconnects)
	}
}
