package live

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/video"
	"github.com/anonymize/anonymize/video/imageio"
)

// PreviewPath is where a Preview serves its MJPEG stream.
const PreviewPath = "/stream.mjpg"

// previewMaxViewers bounds the streams served at once.
const previewMaxViewers = 8

// Preview serves the anonymized frames as an MJPEG stream over HTTP
// (multipart/x-mixed-replace at PreviewPath, and a page showing it at /).
// It only ever sees what it is given: a SegmentSink gives it frames after
// hiding, never raw frames.
//
// Publish never blocks: each viewer is sent the newest frame when it is
// ready for one, so a slow viewer misses frames rather than holding up the
// run. Frames are encoded only while someone is watching.
type Preview struct {
	ln      net.Listener
	srv     *http.Server
	log     *slog.Logger
	quality int
	viewers atomic.Int32
	done    chan struct{}
	once    sync.Once

	mu    sync.Mutex
	jpeg  []byte        // the newest frame
	gen   uint64        // counts published frames
	fresh chan struct{} // closed (and replaced) when a frame is published
}

// StartPreview listens on addr (HOST:PORT) and serves. An empty host means
// loopback (127.0.0.1): the preview is served beyond this machine only
// when another interface is named, and that is logged.
func StartPreview(addr string, log *slog.Logger) (*Preview, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("preview address %q: want HOST:PORT, e.g. 127.0.0.1:8081", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	p := &Preview{ln: ln, log: log, quality: 80, done: make(chan struct{}), fresh: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/", p.page)
	mux.HandleFunc(PreviewPath, p.stream)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		if host != "localhost" {
			log.Warn("preview served beyond this machine: anyone who can reach it sees the anonymized frames", "addr", ln.Addr().String())
		}
	}
	log.Info("preview", "url", "http://"+ln.Addr().String()+PreviewPath)
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("preview stopped", "err", err)
		}
	}()
	return p, nil
}

// NewPreview is a Preview that binds no listener: mount its Handler on any
// mux (the service serves it at /v1/stream.mjpeg). Publish and Close work
// as for StartPreview.
func NewPreview(log *slog.Logger) *Preview {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Preview{log: log, quality: 80, done: make(chan struct{}), fresh: make(chan struct{})}
}

// Handler serves the MJPEG stream (multipart/x-mixed-replace) of the
// frames published from now on, to at most previewMaxViewers viewers at
// once; it ends when the viewer goes or the Preview is closed.
func (p *Preview) Handler() http.Handler { return http.HandlerFunc(p.stream) }

// Addr is the address the preview listens on ("" for NewPreview).
func (p *Preview) Addr() string {
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}

// Close stops serving and ends every stream. Safe on nil and twice.
func (p *Preview) Close() error {
	if p == nil {
		return nil
	}
	var err error
	p.once.Do(func() {
		close(p.done)
		if p.srv != nil {
			err = p.srv.Close()
		}
	})
	return err
}

// Publish offers an anonymized frame to the viewers; it does nothing when
// p is nil or nobody is watching. It does not keep img.
func (p *Preview) Publish(img gocv.Mat) {
	if p == nil || p.viewers.Load() == 0 {
		return
	}
	data, err := imageio.Encode(img, ".jpg", p.quality)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.jpeg = data
	p.gen++
	close(p.fresh)
	p.fresh = make(chan struct{})
	p.mu.Unlock()
}

func (p *Preview) page(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>anonymize preview</title><body style=\"margin:0;background:#000\"><img src=%q style=\"max-width:100%%\" alt=\"anonymized live view\"></body>\n", PreviewPath)
}

func (p *Preview) stream(w http.ResponseWriter, r *http.Request) {
	if n := p.viewers.Add(1); n > previewMaxViewers {
		p.viewers.Add(-1)
		http.Error(w, "too many viewers", http.StatusServiceUnavailable)
		return
	}
	defer p.viewers.Add(-1)
	const boundary = "frame"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Through the ResponseController, so a wrapping ResponseWriter with
	// Unwrap (the service's) still flushes each frame.
	rc := http.NewResponseController(w)
	flush := func() { rc.Flush() }
	flush()
	p.mu.Lock()
	sent := p.gen // only frames published from now on: never a stale one
	p.mu.Unlock()
	for {
		p.mu.Lock()
		data, gen, fresh := p.jpeg, p.gen, p.fresh
		p.mu.Unlock()
		if gen != sent && data != nil {
			sent = gen
			_, err := io.WriteString(w, "--"+boundary+"\r\nContent-Type: image/jpeg\r\nContent-Length: "+strconv.Itoa(len(data))+"\r\n\r\n")
			if err == nil {
				_, err = w.Write(data)
			}
			if err == nil {
				_, err = io.WriteString(w, "\r\n")
			}
			if err != nil {
				return
			}
			flush()
		}
		select {
		case <-fresh:
		case <-r.Context().Done():
			return
		case <-p.done:
			return
		}
	}
}

// PreviewSink is a video.Sink that only shows the anonymized frames on a Preview:
// a live view without files. Write owns and closes each frame's Mat.
type PreviewSink struct {
	p                   *Preview
	frames, hiddenWhole atomic.Int64
}

// NewPreviewSink shows the frames written on p.
func NewPreviewSink(p *Preview) *PreviewSink { return &PreviewSink{p: p} }

// Write publishes f to the preview and closes f.Mat.
func (s *PreviewSink) Write(f video.Frame, r video.FrameResult) error {
	defer f.Mat.Close()
	s.frames.Add(1)
	if r.HiddenWhole {
		s.hiddenWhole.Add(1)
	}
	if !f.Mat.Empty() {
		s.p.Publish(f.Mat)
	}
	return nil
}

// Close does nothing: the Preview is closed by its owner.
func (s *PreviewSink) Close() error { return nil }

// Stats counts the frames written (no segments, no JPEG files).
func (s *PreviewSink) Stats() SegmentStats {
	return SegmentStats{Frames: s.frames.Load(), HiddenWhole: s.hiddenWhole.Load()}
}
