package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/imageio"
)

// Live sources: a camera or a stream read by a capture goroutine that never
// waits for the pipeline. Frames go into a small "newest wins" queue; when
// the pipeline is slower than the source, the oldest waiting frame is closed
// and counted as dropped. A lost stream is reopened with exponential
// backoff, each attempt logged.

// ErrNoCamera means a camera device does not exist or could not be opened.
var ErrNoCamera = errors.New("no such device")

// Capture is an opened camera or stream (an OpenCV VideoCapture, or a test
// double). Its methods are called from one goroutine at a time.
type Capture interface {
	// Read decodes the next frame into m, reallocating m as needed. It
	// returns false when the source ended or failed.
	Read(m *gocv.Mat) bool
	// FPS is the frame rate the source reports, 0 when it reports none.
	FPS() float64
	// Close releases the capture.
	Close() error
}

// Opener opens a source, at the start or again after it was lost.
type Opener func() (Capture, error)

// cvCapture is a Capture over an OpenCV VideoCapture, which it owns.
type cvCapture struct{ vc *gocv.VideoCapture }

func (c cvCapture) Read(m *gocv.Mat) bool { return c.vc.Read(m) }

func (c cvCapture) FPS() float64 {
	f := c.vc.Get(gocv.VideoCaptureFPS)
	if math.IsNaN(f) || f < 1 || f > 240 {
		return 0
	}
	return f
}

func (c cvCapture) Close() error { return c.vc.Close() }

// Size is the frame size the capture reports (0, 0 when it reports none).
func (c cvCapture) Size() (w, h int) {
	return int(c.vc.Get(gocv.VideoCaptureFrameWidth)), int(c.vc.Get(gocv.VideoCaptureFrameHeight))
}

// sizer is a Capture that tells its frame size before the first frame.
type sizer interface{ Size() (w, h int) }

// CheckSize refuses a capture whose frames are over maxPixels (width x
// height; 0: imageio.DefaultMaxPixels), by the size it reports before any
// frame is read; one that reports none passes (its frames are checked as
// they come, see Options.MaxPixels). The error wraps
// imageio.ErrTooManyPixels.
func CheckSize(c Capture, name string, maxPixels int64) error {
	if s, ok := c.(sizer); ok {
		w, h := s.Size()
		return checkPixels(name, w, h, maxPixels)
	}
	return nil
}

func checkPixels(name string, w, h int, maxPixels int64) error {
	if maxPixels <= 0 {
		maxPixels = imageio.DefaultMaxPixels
	}
	if px := int64(w) * int64(h); px > maxPixels {
		return fmt.Errorf("live source %s: %w: %dx%d frames (%d pixels) are over the %d-pixel limit (max_pixels)", Redact(name), imageio.ErrTooManyPixels, w, h, px, maxPixels)
	}
	return nil
}

// IsStreamURL says whether a --stream value is a URL (rtsp://, http://,
// udp://, ...) rather than a file.
func IsStreamURL(s string) bool { return strings.Contains(s, "://") }

// Redact hides the password of a URL that carries one (rtsp://user:pass@...),
// so that logs and errors never show it.
func Redact(source string) string {
	u, err := url.Parse(source)
	if err != nil || u.User == nil {
		return source
	}
	if _, ok := u.User.Password(); !ok {
		return source
	}
	return u.Redacted()
}

// OpenStream opens a URL (rtsp, http MJPEG, udp, ...) or a video file with
// OpenCV's FFmpeg backend. OpenCV bounds a stalled open or read with its own
// timeout (30 s by default).
func OpenStream(source string) (Capture, error) {
	vc, err := gocv.VideoCaptureFileWithAPI(source, gocv.VideoCaptureFFmpeg)
	if err != nil || !vc.IsOpened() {
		vc.Close()
		if why := unreachable(source); why != "" {
			return nil, fmt.Errorf("open %s: %s", Redact(source), why)
		}
		return nil, fmt.Errorf("open %s: OpenCV's FFmpeg backend cannot read it", Redact(source))
	}
	return cvCapture{vc}, nil
}

// defaultPorts are the TCP ports of the stream schemes that name none.
var defaultPorts = map[string]string{"rtsp": "554", "rtsps": "322", "http": "80", "https": "443", "rtmp": "1935", "tcp": ""}

// dialTimeout bounds the connection unreachable tries.
const dialTimeout = 3 * time.Second

// unreachable says why a stream URL over TCP could not be opened when
// the reason is the network (connection refused, host unknown, no answer),
// by trying to connect to its host and port; "" when the connection works
// (the stream itself is what OpenCV could not read) or the URL is not over
// TCP (udp://, a file).
func unreachable(source string) string {
	u, err := url.Parse(source)
	if err != nil || u.Host == "" {
		return ""
	}
	port, ok := defaultPorts[strings.ToLower(u.Scheme)]
	if !ok {
		return ""
	}
	if p := u.Port(); p != "" {
		port = p
	}
	if port == "" {
		return ""
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err == nil {
		c.Close()
		return ""
	}
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused (nothing listens at %s)", addr)
	case errors.As(err, &dns):
		return fmt.Sprintf("host %s not found (%v)", u.Hostname(), dns.Err)
	case os.IsTimeout(err):
		return fmt.Sprintf("%s not reachable (no answer within %v)", addr, dialTimeout)
	}
	return fmt.Sprintf("%s not reachable: %v", addr, err)
}

// OpenCamera opens camera device index. A device that does not exist is
// reported at once, wrapping ErrNoCamera: on Linux, by looking for
// /dev/videoN first; elsewhere, when OpenCV does not open it within timeout
// (0: 10 s), the open is abandoned rather than waited for.
func OpenCamera(index int, timeout time.Duration) (Capture, error) {
	if index < 0 {
		return nil, fmt.Errorf("camera %d: %w (a device index is 0 or more)", index, ErrNoCamera)
	}
	if runtime.GOOS == "linux" {
		dev := fmt.Sprintf("/dev/video%d", index)
		if _, err := os.Stat(dev); err != nil {
			return nil, fmt.Errorf("camera %d: %w (%s does not exist)", index, ErrNoCamera, dev)
		}
	}
	return openCameraCV(index, timeout)
}

// openCameraCV asks OpenCV to open device index, giving up after timeout.
func openCameraCV(index int, timeout time.Duration) (Capture, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	type opened struct {
		vc  *gocv.VideoCapture
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		vc, err := gocv.VideoCaptureDevice(index)
		ch <- opened{vc, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err != nil || !r.vc.IsOpened() {
			r.vc.Close()
			return nil, fmt.Errorf("camera %d: %w (OpenCV cannot open it)", index, ErrNoCamera)
		}
		return cvCapture{r.vc}, nil
	case <-timer.C:
		go func() { // close it whenever the open returns
			r := <-ch
			r.vc.Close()
		}()
		return nil, fmt.Errorf("camera %d: %w (not opened within %v)", index, ErrNoCamera, timeout)
	}
}

// Options configure a Source. The zero value is valid.
type Options struct {
	// Name names the source in logs (passwords in URLs are redacted).
	Name string
	// Queue is how many captured frames may wait for Read (default 2).
	// When it is full, the oldest waiting frame is closed and counted as
	// dropped: capture never waits for the consumer.
	Queue int
	// ReconnectMin is the wait before the first attempt to reopen a lost
	// source (default 500 ms); it doubles after each failed attempt, up to
	// ReconnectMax (default 30 s), and starts again once frames flow.
	ReconnectMin, ReconnectMax time.Duration
	// RealTime paces the frames by the source's frame rate (25 fps when it
	// reports none), so that a file plays as if it were live.
	RealTime bool
	// CloseWait bounds how long Close waits for a capture blocked inside
	// OpenCV (default 5 s). Past it, the capture goroutine is left to close
	// its frame and capture when OpenCV returns.
	CloseWait time.Duration
	// MaxPixels caps the frame size (width x height; 0:
	// imageio.DefaultMaxPixels). A source whose frames are larger, by the
	// size it reports when opened or by a frame captured, is stopped: Read
	// returns an error wrapping imageio.ErrTooManyPixels, and it is not
	// reopened (it would send the same frames again).
	MaxPixels int64
	Log       *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Queue <= 0 {
		o.Queue = 2
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 500 * time.Millisecond
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 30 * time.Second
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.CloseWait <= 0 {
		o.CloseWait = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.Name = Redact(o.Name)
	return o
}

// Stats count what a Source did so far.
type Stats struct {
	Captured   int64 // frames read from the camera or stream
	Dropped    int64 // frames closed unread because the queue was full (the pipeline was behind)
	Reconnects int64 // times the source was reopened after it was lost
}

// Source is a video.Source over a camera or stream. A capture goroutine reads
// continuously into a bounded queue that keeps the newest frames; Read
// takes the oldest frame waiting. Frames carry their capture time: PTS is
// the time since Start, Index counts every frame captured (dropped ones
// included), so gaps in Index are drops.
//
// Read returns io.EOF once the context given to Start is done, or when
// a source without an Opener (a file) ends. Ownership: a frame returned by
// Read belongs to the caller; frames still queued are closed by Close.
type Source struct {
	o      Options
	open   Opener
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the capture goroutine returns
	ready  chan struct{} // one slot: a frame was queued or capture ended

	mu     sync.Mutex
	queue  []video.Frame
	end    error // io.EOF once capture has ended
	closed bool

	captured, dropped, reconnects atomic.Int64
	fps                           atomic.Uint64 // float64 bits: the rate of the current connection
	up                            atomic.Bool   // a capture is open (not lost, not reconnecting)
}

// Start starts capturing. first is an already opened capture to read
// first (nil: open one with open, retrying with backoff until it works);
// open reopens the source after it ends or fails; with open nil, the end of
// first is the end of the source (a file). Capture stops when ctx is done.
func Start(ctx context.Context, first Capture, open Opener, o Options) *Source {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	s := &Source{
		o: o, open: open, start: time.Now(), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), ready: make(chan struct{}, 1),
	}
	go s.run(first)
	return s
}

// Start is the wall-clock time of PTS 0.
func (s *Source) Start() time.Time { return s.start }

// Stats returns the counts so far.
func (s *Source) Stats() Stats {
	return Stats{Captured: s.captured.Load(), Dropped: s.dropped.Load(), Reconnects: s.reconnects.Load()}
}

// Connected says whether the source is open now: false before it is
// first opened, while it is lost and being reconnected, and once it ended.
func (s *Source) Connected() bool { return s.up.Load() }

// FPS is the frame rate of the current connection: measured once enough
// frames have arrived, else what the source reports, else 0.
func (s *Source) FPS() float64 { return math.Float64frombits(s.fps.Load()) }

// Read returns the oldest frame waiting, blocking until one is captured.
func (s *Source) Read() (video.Frame, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			f := s.queue[0]
			s.queue[0] = video.Frame{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return f, nil
		}
		end := s.end
		s.mu.Unlock()
		if end != nil {
			return video.Frame{}, end
		}
		select {
		case <-s.ready:
		case <-s.ctx.Done():
			return video.Frame{}, io.EOF
		}
	}
}

// Close stops capturing and closes the frames still queued. It waits for
// the capture goroutine up to CloseWait; a capture still blocked inside
// OpenCV then is reported and left to clean up after itself.
func (s *Source) Close() error {
	s.cancel()
	var err error
	timer := time.NewTimer(s.o.CloseWait)
	select {
	case <-s.done:
	case <-timer.C:
		err = fmt.Errorf("live source %s: capture still blocked in a read after %v; it closes itself when the read returns", s.o.Name, s.o.CloseWait)
	}
	timer.Stop()
	s.mu.Lock()
	s.closed = true
	for i := range s.queue {
		s.queue[i].Mat.Close()
	}
	s.queue = nil
	s.mu.Unlock()
	return err
}

// push queues a captured frame, dropping the oldest waiting one when the
// queue is full. It never blocks on the consumer.
func (s *Source) push(f video.Frame) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		f.Mat.Close()
		return
	}
	if len(s.queue) >= s.o.Queue {
		old := s.queue[0]
		copy(s.queue, s.queue[1:])
		s.queue = s.queue[:len(s.queue)-1]
		old.Mat.Close()
		s.dropped.Add(1)
	}
	s.queue = append(s.queue, f)
	s.mu.Unlock()
	s.notify()
}

func (s *Source) notify() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// finish marks the end of capture: Read returns io.EOF (or the error
// that stopped it, see stop) once the queue is empty.
func (s *Source) finish() {
	s.mu.Lock()
	if s.end == nil {
		s.end = io.EOF
	}
	s.mu.Unlock()
	s.notify()
}

// stop ends capture with err, which Read returns once the queue is empty.
func (s *Source) stop(err error) {
	s.mu.Lock()
	s.end = err
	s.mu.Unlock()
}

// wait sleeps for d of real time; false when ctx ended first.
func (s *Source) wait(d time.Duration) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// rate measures the frame rate of one connection.
type rate struct {
	first, last time.Time
	n           int
}

func (r *rate) add(t time.Time) {
	if r.n == 0 {
		r.first = t
	}
	r.last = t
	r.n++
}

// fps is the measured rate, rounded to a whole number, once 30 frames over
// at least a second have arrived; else 0.
func (r *rate) fps() float64 {
	d := r.last.Sub(r.first).Seconds()
	if r.n < 30 || d < 1 {
		return 0
	}
	return max(1, math.Round(float64(r.n-1)/d))
}

// capturing is the state of the capture goroutine (run), owned by it.
type capturing struct {
	s        *Source
	log      *slog.Logger
	c        Capture // nil: to be (re)opened
	backoff  time.Duration
	index    int
	lost     time.Time // when the source was lost (zero before the first loss)
	attempt  int
	meas     rate
	paceAt   time.Time // real-time pacing: when the next frame is due
	reported float64
}

// run is the capture goroutine.
func (s *Source) run(c Capture) {
	defer close(s.done)
	defer s.finish()
	defer s.up.Store(false)
	k := &capturing{s: s, log: s.o.Log.With("source", s.o.Name), c: c, backoff: s.o.ReconnectMin}
	defer func() {
		if k.c != nil {
			k.c.Close()
		}
	}()
	if k.c != nil && !k.connected() {
		return
	}
	for s.ctx.Err() == nil {
		if k.c == nil {
			if !k.reopen() {
				return
			}
			if k.c == nil {
				continue // not opened: retried after the backoff
			}
		}
		m := gocv.NewMat()
		if !k.c.Read(&m) || m.Empty() {
			m.Close()
			if !k.lose() {
				return
			}
			continue
		}
		if err := checkPixels(s.o.Name, m.Cols(), m.Rows(), s.o.MaxPixels); err != nil {
			m.Close() // never queued: no frame over the cap reaches the pipeline
			k.tooBig(err)
			return
		}
		k.backoff = s.o.ReconnectMin
		if s.o.RealTime && !k.pace() {
			m.Close()
			return
		}
		k.deliver(m)
	}
}

// connected takes note of a capture just opened (k.c) and checks the frame
// size it reports; false when the source is stopped for it.
func (k *capturing) connected() bool {
	k.meas = rate{}
	k.paceAt = time.Now()
	k.reported = k.c.FPS()
	k.s.fps.Store(math.Float64bits(k.reported))
	if k.lost.IsZero() {
		k.log.Info("live source opened", "fps", math.Round(k.reported*100)/100)
	} else {
		k.s.reconnects.Add(1)
		k.log.Info("live source reconnected", "attempts", k.attempt, "down", time.Since(k.lost).Round(time.Millisecond))
	}
	k.attempt = 0
	if err := CheckSize(k.c, k.s.o.Name, k.s.o.MaxPixels); err != nil {
		k.tooBig(err)
		return false
	}
	k.s.up.Store(true)
	return true
}

// tooBig stops the source with err, a frame size over the cap.
func (k *capturing) tooBig(err error) {
	k.log.Error("live source stopped", "err", err)
	k.s.stop(err)
}

// reopen tries once to open the source again (k.c is nil); false when
// capture ends. When the attempt fails, k.c stays nil and the backoff has
// been waited out.
func (k *capturing) reopen() bool {
	if k.s.open == nil {
		return false
	}
	k.attempt++
	nc, err := k.s.open()
	if err != nil {
		k.log.Warn("live source not opened; retrying", "attempt", k.attempt, "in", k.backoff, "err", err)
		if !k.s.wait(k.backoff) {
			return false
		}
		k.backoff = min(2*k.backoff, k.s.o.ReconnectMax)
		return true
	}
	k.c = nc
	return k.connected()
}

// lose closes the capture, which gave no frame; false when capture ends
// (ctx done, a source that cannot be reopened, or ctx done during the
// backoff), else the backoff has been waited out before reopening.
func (k *capturing) lose() bool {
	k.s.up.Store(false)
	k.c.Close()
	k.c = nil
	if k.s.ctx.Err() != nil {
		return false
	}
	if k.s.open == nil {
		k.log.Info("live source ended", "frames", k.index)
		return false
	}
	k.lost = time.Now()
	k.log.Warn("live source lost; reconnecting", "in", k.backoff, "frames", k.index)
	if !k.s.wait(k.backoff) {
		return false
	}
	k.backoff = min(2*k.backoff, k.s.o.ReconnectMax)
	return true
}

// pace waits until the next frame is due in real time and schedules the
// one after; false when ctx ended first.
func (k *capturing) pace() bool {
	if !k.s.wait(time.Until(k.paceAt)) {
		return false
	}
	pace := k.reported
	if pace == 0 {
		pace = 25 // a file that gives no rate
	}
	k.paceAt = k.paceAt.Add(time.Duration(float64(time.Second) / pace))
	if late := time.Since(k.paceAt); late > time.Second {
		k.paceAt = k.paceAt.Add(late) // decoding fell behind: do not burst to catch up
	}
	return true
}

// deliver stamps a captured frame, measures the rate and queues it.
func (k *capturing) deliver(m gocv.Mat) {
	now := time.Now()
	k.meas.add(now)
	if f := k.meas.fps(); f > 0 {
		k.s.fps.Store(math.Float64bits(f))
	}
	k.s.captured.Add(1)
	k.s.push(video.Frame{Index: k.index, PTS: now.Sub(k.s.start), Mat: m})
	k.index++
}
