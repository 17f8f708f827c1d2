package main

// `anonymize serve`: an HTTP service that anonymizes and detects on images
// other programs send it.
//
// A request for /v1/anonymize or /v1/detect goes through cheap checks first
// (auth, method, query, Content-Type, declared length), then admission: at
// most serve.max_concurrent requests are processed and serve.queue more may
// wait; beyond that it gets 503 with Retry-After at once, before its body is
// read. An admitted request reads its body (capped at max_body_bytes),
// recognises the format by its signature, reads the pixel size from the
// header (capped at max_pixels: a decompression bomb is refused before it
// is decoded), then waits for a processing slot. Decoding, detection,
// hiding and encoding run in a worker that holds the slot until it is done,
// so the bound holds even for a request whose deadline passed (it is
// answered 503 at its deadline; its worker finishes and discards).
//
// Models hot-swap under the service (infer.Set): a request in flight
// finishes on the model it started on, and every response names the model
// version that served it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/imageio"
	videolive "github.com/anonymize/anonymize/video/live" // serve has a local live (the live input)
)

// Service tunables that are not settings.
const (
	// serveRetryAfter is the Retry-After of a 503, in seconds.
	serveRetryAfter = "1"
	// serveDrainGrace is added to the request timeout for the shutdown:
	// requests in flight get that long to finish.
	serveDrainGrace = 5 * time.Second
	// serveWriteTimeout bounds writing a response (at least).
	serveWriteTimeout = 30 * time.Second
	// serveStreamPath is the live view's path (see handleStream).
	serveStreamPath = "/v1/stream.mjpeg"
)

// serveCommand is `anonymize serve`.
func serveCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run an HTTP service: POST an image to /v1/anonymize or /v1/detect",
		Description: "Endpoints: POST /v1/anonymize (image in, anonymized image out in the same format;\n" +
			"query: style, shape, mask_scale, colour, threshold, model), POST /v1/detect (JSON boxes),\n" +
			"GET /v1/models, /healthz, /readyz and /metrics (Prometheus). With --camera or --stream it\n" +
			"also anonymizes that live source and serves the anonymized view at GET /v1/stream.mjpeg\n" +
			"(MJPEG; with --out DIR it also writes segment files, as live mode does). Settings: [serve] in\n" +
			"config.toml. Models are reloaded on SIGHUP and, with reload.watch, when the models folder\n" +
			"or the config changes. SIGINT/SIGTERM stop it after the requests in flight finish.\n\n" +
			"Exit codes: 0 stopped cleanly; 1 the service failed or could not drain in time; 2 usage,\n" +
			"config or model error, or the address cannot be bound.",
		Flags: append([]cli.Flag{
			flagConfig,
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Usage: "listen on `HOST:PORT` (default 127.0.0.1:8080: this machine only; serve.listen)"},
			&cli.IntFlag{Name: "max-concurrent", Usage: "process `N` images at once (default: one per CPU core; serve.max_concurrent)"},
			&cli.IntFlag{Name: "queue", Usage: "let `N` more requests wait for a turn before answering 503 (default 32; serve.queue)"},
			&cli.DurationFlag{Name: "timeout", Usage: "answer each request within `DURATION`, else 503 (default 30s; 0: none; serve.timeout_ms)"},
			&cli.StringFlag{Name: "camera", Usage: "also anonymize a live camera (OpenCV device `INDEX`) and serve the view at /v1/stream.mjpeg"},
			&cli.StringFlag{Name: "stream", Usage: "also anonymize a live stream (rtsp, http or udp `URL`, or a file played in real time) and serve the view at /v1/stream.mjpeg"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "with --camera/--stream: also write the anonymized live source as segment files under `DIR` (default: the live view only)"},
		}, pickFlags(anonymizeFlags(), "model", "threshold", "tiles", "style", "shape", "mask-scale", "threads", "providers", "quiet")...),
		Action: func(c *cli.Context) error { return cmdServe(c, stderr) },
	}
}

// pickFlags returns the flags of fs named in names, in fs's order.
func pickFlags(fs []cli.Flag, names ...string) []cli.Flag {
	var out []cli.Flag
	for _, f := range fs {
		if slices.Contains(names, f.Names()[0]) {
			out = append(out, f)
		}
	}
	return out
}

// serveHooks lets tests observe and steer a service: it travels in the
// context under serveHooksKey, so no package state holds it.
type serveHooks struct {
	loading  func(addr string)                 // listening, models not yet loaded
	started  func(addr string)                 // listening, models loaded
	wrap     func(serveDetector) serveDetector // wraps the detector
	shutdown func()                            // the listener is closed, draining begins
}

type serveHooksKey struct{}

// serveDetector is what the service needs of the models (*infer.Set).
type serveDetector interface {
	DetectInfo(img gocv.Mat) ([]convert.Detection, infer.Info, error)
	Models() []infer.Info
}

func cmdServe(c *cli.Context, stderr io.Writer) error {
	ctx := c.Context
	if c.NArg() > 0 {
		return usageErr("serve takes no arguments (got %q)", c.Args().First())
	}
	cfg, err := settings(c)
	if err != nil {
		return err
	}
	if c.IsSet("listen") {
		cfg.Serve.Listen = c.String("listen")
	}
	if c.IsSet("max-concurrent") {
		cfg.Serve.MaxConcurrent = c.Int("max-concurrent")
	}
	if c.IsSet("queue") {
		cfg.Serve.Queue = c.Int("queue")
	}
	if c.IsSet("timeout") {
		cfg.Serve.TimeoutMS = int(c.Duration("timeout").Milliseconds())
	}
	if err := errors.Join(cfg.checkServe()...); err != nil {
		return usageErr("invalid flag value: %v", err)
	}
	if cfg.Serve.MaxConcurrent == 0 {
		cfg.Serve.MaxConcurrent = runtime.NumCPU()
	}
	if cfg.Runtime.IntraOpThreads == 0 {
		cfg.Runtime.IntraOpThreads = max(1, runtime.NumCPU()/cfg.Serve.MaxConcurrent)
	}
	hooks, _ := ctx.Value(serveHooksKey{}).(*serveHooks)
	if hooks == nil {
		hooks = &serveHooks{}
	}
	log := newLogger(stderr, c.Bool("quiet"))

	// A live source (--camera, --stream) is opened before anything else: a
	// camera that is not there is an error at once.
	var live *liveInput
	liveDir := ""
	switch {
	case c.IsSet("camera") && c.IsSet("stream"):
		return usageErr("give --camera or --stream, not both")
	case c.IsSet("camera") || c.IsSet("stream"):
		if c.IsSet("out") {
			liveDir = c.String("out")
			if err := os.MkdirAll(liveDir, 0o755); err != nil {
				return usageErr("--out: %v", err)
			}
		}
		if live, err = openLiveInput(c, cfg, log); err != nil {
			return err
		}
		defer live.close()
	case c.IsSet("out"):
		return usageErr("--out is for the live source's segment files: give --camera or --stream with it")
	}

	// Bind first: an address in use is an error at once, before the models
	// load. An empty host means loopback, never every interface.
	host, port, _ := net.SplitHostPort(cfg.Serve.Listen)
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return usageErr("serve: %v", err)
	}
	defer ln.Close()
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		if cfg.Serve.Token == "" {
			log.Warn("serving beyond this machine without a token: anyone who can reach it may use it (set serve.token)", "addr", ln.Addr().String())
		} else {
			log.Warn("serving beyond this machine: use TLS in front of it, the token travels in the clear", "addr", ln.Addr().String())
		}
	}

	// Serve at once: /healthz answers while the models load (a TensorRT
	// engine can take minutes to build), /readyz once they have.
	s := newServer(cfg, log)
	if live != nil {
		s.live = videolive.NewPreview(log)
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests are not cancelled by the stop: they drain.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	hs.RegisterOnShutdown(func() {
		s.live.Close() // ends the live view streams, so they do not hold up the drain
		if hooks.shutdown != nil {
			hooks.shutdown()
		}
	})
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	addr := ln.Addr().String()
	log.Info("listening; loading the models", "url", "http://"+addr)
	if hooks.loading != nil {
		hooks.loading(addr)
	}

	set, err := loadDetector(cfg, log)
	if err != nil {
		hs.Close()
		return err
	}
	defer set.Close()
	var det serveDetector = set
	if hooks.wrap != nil {
		det = hooks.wrap(set)
	}
	s.det = det // published to the handlers by the store to s.ready
	s.watchReloads(set)
	stopReload := startReloader(ctx, c, cfg, set, log)
	defer stopReload()
	s.ready.Store(true)
	liveCtx, stopLive := context.WithCancel(ctx)
	defer stopLive()
	if live != nil {
		liveDone := make(chan struct{})
		defer func() { stopLive(); <-liveDone }() // before set.Close
		go func() {
			defer close(liveDone)
			res, err := runLive(liveCtx, live, set, cfg, liveOutputs{Dir: liveDir, Preview: s.live, Workers: cfg.Serve.MaxConcurrent}, log)
			if err == nil {
				err = res.err(live.name)
			}
			if err != nil {
				log.Error("live source stopped; /v1/stream.mjpeg shows no new frames", "source", live.name, "err", err)
				return
			}
			log.Info("live source stopped", "source", live.name, "captured", res.Source.Captured, "frames", res.Sink.Frames,
				"segments", res.Sink.Segments, "reconnects", res.Source.Reconnects)
		}()
	}
	info := set.Info()
	log.Info("serving", "url", "http://"+addr, "model", info.Name, "version", info.Version,
		"max_concurrent", cfg.Serve.MaxConcurrent, "queue", cfg.Serve.Queue, "auth", cfg.Serve.Token != "")
	if hooks.started != nil {
		hooks.started(addr)
	}

	var failed error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		failed = err
	}
	// Drain: the listener closes at once (new connections are refused),
	// requests in flight finish, then the workers, the live source and the
	// models.
	s.stopping.Store(true)
	stopLive()
	grace := s.timeout + serveDrainGrace
	log.Info("stopping: finishing the requests in flight", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		if failed == nil {
			failed = fmt.Errorf("requests still in flight after %v were cut off", grace)
		}
	}
	s.workers.Wait()
	if failed != nil && !errors.Is(failed, http.ErrServerClosed) {
		return &exitError{exitSomeFailed, fmt.Errorf("serve: %w", failed)}
	}
	log.Info("stopped", "requests", s.served.Load())
	return nil
}

// server is the service's handler.
type server struct {
	cfg     Config
	det     serveDetector
	log     *slog.Logger
	hide    hide.Options
	timeout time.Duration // 0: none
	token   [sha256.Size]byte
	auth    bool

	admit   chan struct{} // admitted requests: processing or waiting
	slots   chan struct{} // processing
	workers sync.WaitGroup
	// ready is set once the models are loaded (and det with them);
	// handlers read det only after reading ready true.
	ready    atomic.Bool
	stopping atomic.Bool
	served   atomic.Int64

	m      *serveMetrics
	routes map[string]route
	// live is the anonymized live view (serve --camera/--stream); nil
	// without a live source. Set before serving.
	live *videolive.Preview
}

// route is an endpoint: its handler and method, whether it is open
// without the token, and whether it needs the models loaded.
type route struct {
	method      string
	open        bool
	needsModels bool
	h           http.HandlerFunc
}

func newServer(cfg Config, log *slog.Logger) *server {
	hide, _ := cfg.hideOptions() // validated in settings
	s := &server{
		cfg: cfg, log: log, hide: hide,
		timeout: time.Duration(cfg.Serve.TimeoutMS) * time.Millisecond,
		auth:    cfg.Serve.Token != "",
		admit:   make(chan struct{}, cfg.Serve.MaxConcurrent+cfg.Serve.Queue),
		slots:   make(chan struct{}, cfg.Serve.MaxConcurrent),
	}
	s.token = sha256.Sum256([]byte(cfg.Serve.Token))
	s.m = newServeMetrics(s)
	s.routes = map[string]route{
		"/v1/anonymize": {method: http.MethodPost, needsModels: true, h: func(w http.ResponseWriter, r *http.Request) { s.handleImage(w, r, true) }},
		"/v1/detect":    {method: http.MethodPost, needsModels: true, h: func(w http.ResponseWriter, r *http.Request) { s.handleImage(w, r, false) }},
		"/v1/models":    {method: http.MethodGet, needsModels: true, h: s.handleModels},
		serveStreamPath: {method: http.MethodGet, h: s.handleStream},
		"/healthz":      {method: http.MethodGet, open: true, h: s.handleHealth},
		"/readyz":       {method: http.MethodGet, open: true, h: s.handleReady},
		"/metrics":      {method: http.MethodGet, h: promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}).ServeHTTP},
	}
	return s
}

// ServeHTTP routes, authenticates and counts every request.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt, known := s.routes[r.URL.Path]
	endpoint := r.URL.Path
	if !known {
		endpoint = "other"
	}
	sw := &statusWriter{ResponseWriter: w}
	sw.Header().Set("X-Content-Type-Options", "nosniff")
	defer func() {
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		s.m.observe(endpoint, code, time.Since(start))
		if code >= 500 && code != http.StatusServiceUnavailable {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", code, "remote", r.RemoteAddr)
		} else {
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", code, "ms", time.Since(start).Milliseconds())
		}
	}()
	switch {
	case !known:
		s.fail(sw, http.StatusNotFound, "not_found", "no endpoint %s (POST /v1/anonymize, POST /v1/detect, GET /v1/models, /healthz, /readyz, /metrics)", r.URL.Path)
	case !rt.open && !s.authorized(r):
		sw.Header().Set("WWW-Authenticate", `Bearer realm="anonymize"`)
		s.fail(sw, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token (Authorization: Bearer TOKEN; serve.token)")
	case r.Method != rt.method && !(rt.method == http.MethodGet && r.Method == http.MethodHead):
		sw.Header().Set("Allow", rt.method)
		s.fail(sw, http.StatusMethodNotAllowed, "method_not_allowed", "%s %s: use %s", r.Method, r.URL.Path, rt.method)
	case rt.needsModels && !s.ready.Load():
		s.fail(sw, http.StatusServiceUnavailable, "not_ready", "not ready: the models are still loading")
	default:
		rt.h(sw, r)
	}
}

func (s *server) authorized(r *http.Request) bool {
	if !s.auth {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1
}

// statusWriter records the status code; Unwrap lets
// http.ResponseController reach the connection's deadlines.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
	// Code is a stable, machine-readable name of the error.
	Code string `json:"code"`
}

func (s *server) fail(w http.ResponseWriter, status int, code, format string, a ...any) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", serveRetryAfter)
	}
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, a...), Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error":"cannot encode the response","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady is 200 once the models are loaded, until the service
// begins to stop.
func (s *server) handleReady(w http.ResponseWriter, r *http.Request) {
	switch {
	case !s.ready.Load() || len(s.det.Models()) == 0:
		s.fail(w, http.StatusServiceUnavailable, "not_ready", "not ready: the models are still loading")
		return
	case s.stopping.Load():
		s.fail(w, http.StatusServiceUnavailable, "stopping", "not ready: stopping")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// handleStream serves the anonymized live view (MJPEG) when the service
// was started with --camera or --stream; without one it is 404.
func (s *server) handleStream(w http.ResponseWriter, r *http.Request) {
	if s.live == nil {
		s.fail(w, http.StatusNotFound, "no_live_source",
			"no live source is configured: start the service with --camera N or --stream URL for a live view here")
		return
	}
	s.live.Handler().ServeHTTP(w, r)
}

// modelsResponse is GET /v1/models.
type modelsResponse struct {
	// Active are the models serving now.
	Active []infer.Info `json:"active"`
	// Installed are the model folders in models_dir.
	Installed []installedModel `json:"installed"`
}

type installedModel struct {
	Folder      string `json:"folder"`
	Name        string `json:"name,omitempty"`
	Version     string `json:"version,omitempty"`
	Adapter     string `json:"adapter,omitempty"`
	Description string `json:"description,omitempty"`
	Active      bool   `json:"active"`
	Error       string `json:"error,omitempty"`
}

func (s *server) handleModels(w http.ResponseWriter, r *http.Request) {
	active := s.det.Models()
	resp := modelsResponse{Active: active, Installed: []installedModel{}}
	inst, err := models.ListInstalled(s.cfg.ModelsDir)
	if err != nil {
		s.log.Warn("list models", "err", err)
	}
	for _, in := range inst {
		m := installedModel{Folder: filepath.Base(in.Dir)}
		m.Active = slices.ContainsFunc(active, func(a infer.Info) bool { return filepath.Clean(a.Dir) == filepath.Clean(in.Dir) })
		if in.Err != nil {
			m.Error = in.Err.Error()
		} else {
			m.Name, m.Version, m.Adapter, m.Description = in.Manifest.Name, in.Manifest.Version, in.Manifest.Adapter, in.Manifest.Description
		}
		resp.Installed = append(resp.Installed, m)
	}
	writeJSON(w, http.StatusOK, resp)
}

// ---- images ----------------------------------------------------------------

// requestOptions are the query parameters of /v1/anonymize and /v1/detect.
type requestOptions struct {
	style, shape string
	maskScale    float64
	colour       *color.RGBA
	threshold    float32 // 0: the models' own
	model        string  // "": every running model
}

// parseQuery reads and checks the query; unknown keys are errors, as in
// the config.
func parseQuery(q map[string][]string) (requestOptions, error) {
	var o requestOptions
	for k, vs := range q {
		if len(vs) != 1 {
			return o, fmt.Errorf("query parameter %s given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "style":
			switch hide.Style(v) {
			case hide.Blur, hide.Pixelate, hide.Solid:
			default:
				return o, fmt.Errorf("style %q: want blur, pixelate or solid", v)
			}
			o.style = v
		case "shape":
			switch hide.Shape(v) {
			case hide.Box, hide.Ellipse:
			default:
				return o, fmt.Errorf("shape %q: want box or ellipse", v)
			}
			o.shape = v
		case "mask_scale":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f > 0 && f <= hide.MaxMaskScale) {
				return o, fmt.Errorf("mask_scale %q: want a number in (0, %d]", v, hide.MaxMaskScale)
			}
			o.maskScale = f
		case "colour", "color":
			if !strings.HasPrefix(v, "#") {
				v = "#" + v
			}
			col, err := parseColour(v)
			if err != nil {
				return o, fmt.Errorf("colour: %v (rrggbb)", err)
			}
			o.colour = &col
		case "threshold":
			f, err := strconv.ParseFloat(v, 32)
			if err != nil || !(f >= 0 && f <= 1) {
				return o, fmt.Errorf("threshold %q: want a number in [0, 1]", v)
			}
			o.threshold = float32(f)
		case "model":
			if v == "" {
				return o, errors.New("model: empty")
			}
			o.model = v
		default:
			return o, fmt.Errorf("unknown query parameter %q (style, shape, mask_scale, colour, threshold, model)", k)
		}
	}
	return o, nil
}

// apply puts the request's hiding options over h.
func (o requestOptions) apply(h hide.Options) hide.Options {
	if o.style != "" {
		h.Style = hide.Style(o.style)
	}
	if o.shape != "" {
		h.Shape = hide.Shape(o.shape)
	}
	if o.maskScale > 0 {
		h.MaskScale = o.maskScale
	}
	if o.colour != nil {
		h.Colour = *o.colour
	}
	return h
}

// pickModels finds the running models a request names: by name, folder,
// or an alias of either, which may name several ("faces": both face
// detectors, so no face found by only one of them is dropped).
func (s *server) pickModels(name string, running []infer.Info) []infer.Info {
	want := append([]string{name}, s.cfg.aliasNames(name)...)
	var out []infer.Info
	for _, m := range running {
		if slices.Contains(want, m.Name) || slices.Contains(want, filepath.Base(m.Dir)) {
			out = append(out, m)
		}
	}
	return out
}

// result is what a worker hands back.
type result struct {
	status int
	code   string
	err    error
	body   []byte // the encoded image (anonymize)
	dets   []convert.Detection
	info   infer.Info
	w, h   int
	timing timings
}

// timings are the stages of one request, in milliseconds.
type timings struct {
	Read   float64 `json:"read"`   // receiving the body
	Queue  float64 `json:"queue"`  // waiting for a processing slot
	Decode float64 `json:"decode"` // decoding the image
	Detect float64 `json:"detect"` // running the models
	Hide   float64 `json:"hide,omitempty"`
	Encode float64 `json:"encode,omitempty"`
	Total  float64 `json:"total"` // arrival to answer
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// handleImage serves /v1/anonymize (anonymize true) and /v1/detect.
func (s *server) handleImage(w http.ResponseWriter, r *http.Request, anonymize bool) {
	start := time.Now()
	opts, err := parseQuery(r.URL.Query())
	if err != nil {
		s.fail(w, http.StatusBadRequest, "bad_query", "%v", err)
		return
	}
	running := s.det.Models()
	selected := running
	if opts.model != "" {
		selected = s.pickModels(opts.model, running)
		if len(selected) == 0 {
			var names []string
			for _, m := range running {
				names = append(names, m.Name)
			}
			s.fail(w, http.StatusBadRequest, "bad_query", "model %q is not running (running: %s)", opts.model, strings.Join(names, ", "))
			return
		}
	}
	if opts.threshold > 0 {
		for _, m := range selected {
			if opts.threshold < m.Threshold {
				s.fail(w, http.StatusBadRequest, "bad_query",
					"threshold %g is below %s's own %g: the model does not report weaker detections; set threshold (or detectors.NAME.threshold) in the config", opts.threshold, m.Name, m.Threshold)
				return
			}
		}
	}
	declared, err := s.checkContentType(r)
	if err != nil {
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "%v", err)
		return
	}
	limit := s.cfg.Serve.MaxBodyBytes
	if r.ContentLength > limit {
		s.fail(w, http.StatusRequestEntityTooLarge, "too_large", "body of %d bytes is over the %d-byte limit (serve.max_body_bytes)", r.ContentLength, limit)
		return
	}

	// Admission: processing or waiting, bounded; beyond, 503 at once.
	select {
	case s.admit <- struct{}{}:
	default:
		s.m.rejected.WithLabelValues("busy").Inc()
		s.fail(w, http.StatusServiceUnavailable, "busy", "busy: %d images in progress and %d waiting; retry later", cap(s.slots), cap(s.admit)-cap(s.slots))
		return
	}
	defer func() { <-s.admit }()
	ctx := r.Context()
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
		deadline, _ := ctx.Deadline()
		http.NewResponseController(w).SetReadDeadline(deadline)
	}

	var t timings
	// Sized from Content-Length when given (checked against the limit
	// above), so that a large body is not copied as it grows.
	body := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 0)+bytes.MinRead))
	_, err = body.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	data := body.Bytes()
	t.Read = msSince(start)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.fail(w, http.StatusRequestEntityTooLarge, "too_large", "body is over the %d-byte limit (serve.max_body_bytes)", limit)
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.fail(w, http.StatusRequestTimeout, "timeout", "the body did not arrive within %v (serve.timeout_ms)", s.timeout)
		return
	case err != nil:
		s.fail(w, http.StatusBadRequest, "bad_body", "reading the body: %v", err)
		return
	case len(data) == 0:
		s.fail(w, http.StatusBadRequest, "empty", "empty body: send the image's bytes (curl --data-binary @photo.jpg)")
		return
	}
	format := sniffFormat(data)
	switch {
	case format == "":
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "not an image in a supported format (%s)", acceptedFormats)
		return
	case declared != "" && declared != format:
		s.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type says %s but the data is %s", declared.contentType(), format.contentType())
		return
	}
	iw, ih, err := imageSize(format, data)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "corrupt", "%v", err)
		return
	}
	if px := int64(iw) * int64(ih); px > s.cfg.Serve.MaxPixels {
		s.fail(w, http.StatusRequestEntityTooLarge, "too_many_pixels", "%dx%d image (%d pixels) is over the %d-pixel limit (serve.max_pixels)", iw, ih, px, s.cfg.Serve.MaxPixels)
		return
	}

	// A processing slot; the worker holds it until it is done, even when
	// this request has been answered at its deadline.
	queued := time.Now()
	s.m.queued.Inc()
	select {
	case s.slots <- struct{}{}:
		s.m.queued.Dec()
	case <-ctx.Done():
		s.m.queued.Dec()
		s.timedOut(w, r, "waiting for a turn")
		return
	}
	t.Queue = msSince(queued)
	done := make(chan result, 1)
	s.workers.Add(1)
	s.m.inFlight.Inc()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				// A bug must not take the service down with every request
				// in flight; this one gets a 500.
				s.log.Error("panic processing a request", "panic", p, "stack", string(debug.Stack()))
				done <- result{status: http.StatusInternalServerError, code: "internal", err: errors.New("internal error")}
			}
			s.m.inFlight.Dec()
			<-s.slots
			s.workers.Done()
		}()
		done <- s.process(data, format, opts, selected, anonymize)
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		s.timedOut(w, r, "processing")
		return
	}
	s.served.Add(1)
	if res.err != nil {
		s.fail(w, res.status, res.code, "%v", res.err)
		return
	}
	res.timing.Read, res.timing.Queue = t.Read, t.Queue
	res.timing.Total = msSince(start)
	s.m.countDetections(res.dets)

	h := w.Header()
	h.Set("X-Anonymize-Model", res.info.Name)
	h.Set("X-Anonymize-Model-Version", res.info.Version)
	h.Set("X-Anonymize-Detections", strconv.Itoa(len(res.dets)))
	h.Set("Server-Timing", res.timing.serverTiming())
	// A client that reads slowly must not hold its turn forever. The
	// deadline is the connection's: cleared for the requests after this one.
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(max(s.timeout, serveWriteTimeout)))
	defer rc.SetWriteDeadline(time.Time{})
	if !anonymize {
		writeJSON(w, http.StatusOK, newDetectResponse(res, format))
		return
	}
	h.Set("Content-Type", format.contentType())
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(res.body)
}

// statusClientGone is recorded (in the metrics and the log) for a request
// whose client went away before its answer, as nginx does.
const statusClientGone = 499

// timedOut answers a request whose deadline passed, or records that its
// client went away.
func (s *server) timedOut(w http.ResponseWriter, r *http.Request, stage string) {
	if r.Context().Err() != nil {
		w.WriteHeader(statusClientGone)
		return
	}
	s.m.rejected.WithLabelValues("timeout").Inc()
	s.fail(w, http.StatusServiceUnavailable, "timeout", "not done within %v (serve.timeout_ms): timed out %s; retry later", s.timeout, stage)
}

// checkContentType returns the format a request declares, "" when it
// declares none (no Content-Type, application/octet-stream, or curl's
// default for --data-binary, application/x-www-form-urlencoded), so that
// the data's signature decides; a type that is not an accepted image is an
// error.
func (s *server) checkContentType(r *http.Request) (imageFormat, error) {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return "", fmt.Errorf("Content-Encoding %s: send the image's bytes as they are", enc)
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("Content-Type %q: %v", ct, err)
	}
	switch mt {
	case "application/octet-stream", "application/x-www-form-urlencoded":
		return "", nil
	case "multipart/form-data":
		return "", fmt.Errorf("Content-Type %s: send the image's bytes as the body (curl --data-binary @photo.jpg), not a form", mt)
	}
	if f, ok := formatOfMIME(mt); ok {
		return f, nil
	}
	return "", fmt.Errorf("Content-Type %s is not a supported image type (%s)", mt, acceptedFormats)
}

// process decodes, detects and (anonymize) hides and encodes. It owns
// every Mat it makes and closes them before it returns.
func (s *server) process(data []byte, format imageFormat, o requestOptions, selected []infer.Info, anonymize bool) result {
	var res result
	fail := func(status int, code string, err error) result {
		res.status, res.code, res.err = status, code, err
		return res
	}
	t0 := time.Now()
	img, err := imageio.Decode(data)
	if err != nil {
		return fail(http.StatusBadRequest, "corrupt", err)
	}
	defer img.Close()
	res.w, res.h = img.Cols(), img.Rows()
	res.timing.Decode = msSince(t0)

	t1 := time.Now()
	dets, info, err := s.det.DetectInfo(img)
	res.timing.Detect = msSince(t1)
	if err != nil {
		// Fail closed: an image the models could not look at is never
		// returned.
		return fail(http.StatusInternalServerError, "detector_failed", fmt.Errorf("detection failed: %v", err))
	}
	res.dets, res.info = s.filter(dets, info, o, selected)
	if !anonymize {
		return res
	}
	t2 := time.Now()
	if err := s.hideAll(&img, res.dets, o); err != nil {
		return fail(http.StatusInternalServerError, "hide_failed", err)
	}
	res.timing.Hide = msSince(t2)
	t3 := time.Now()
	out, err := imageio.Encode(img, format.ext(), s.cfg.Output.JPEGQuality)
	if err != nil {
		return fail(http.StatusInternalServerError, "encode_failed", err)
	}
	res.timing.Encode = msSince(t3)
	res.body = out
	return res
}

// filter keeps the detections of the selected model (when the request
// named one) scoring at least the request's threshold, and names the
// model(s) that served them.
func (s *server) filter(dets []convert.Detection, info infer.Info, o requestOptions, selected []infer.Info) ([]convert.Detection, infer.Info) {
	chosen := func(name string) bool {
		return o.model == "" || slices.ContainsFunc(selected, func(m infer.Info) bool { return m.Name == name })
	}
	out := make([]convert.Detection, 0, len(dets))
	for _, d := range dets {
		if !chosen(d.Model) || d.Score < o.threshold {
			continue
		}
		out = append(out, d)
	}
	if o.model != "" && len(info.Models) > 0 {
		var parts []infer.Info
		for _, m := range info.Models {
			if chosen(m.Name) {
				parts = append(parts, m)
			}
		}
		info = infer.Combine(parts)
	}
	return out, info
}

// hideAll hides dets, each model's in its own style ([detectors.NAME]),
// with the request's options over every style.
func (s *server) hideAll(img *gocv.Mat, dets []convert.Detection, o requestOptions) error {
	by := map[string][]convert.Box{}
	var order []string
	for _, d := range dets {
		if _, ok := by[d.Model]; !ok {
			order = append(order, d.Model)
		}
		by[d.Model] = append(by[d.Model], d.Box)
	}
	for _, model := range order {
		h := s.hide
		if d, ok := s.cfg.detectorConfig(s.modelDir(model)); ok {
			if mh, err := s.cfg.hideWith(d); err == nil {
				h = mh
			}
		}
		if err := hide.Boxes(img, by[model], o.apply(h)); err != nil {
			return fmt.Errorf("hide: %w", err)
		}
	}
	return nil
}

// modelDir is the folder of the running model named name ("" if none).
func (s *server) modelDir(name string) string {
	for _, m := range s.det.Models() {
		if m.Name == name {
			return m.Dir
		}
	}
	return ""
}

func (t timings) serverTiming() string {
	parts := []string{
		"read;dur=" + fmtMS(t.Read), "queue;dur=" + fmtMS(t.Queue),
		"decode;dur=" + fmtMS(t.Decode), "detect;dur=" + fmtMS(t.Detect),
	}
	if t.Hide > 0 || t.Encode > 0 {
		parts = append(parts, "hide;dur="+fmtMS(t.Hide), "encode;dur="+fmtMS(t.Encode))
	}
	return strings.Join(append(parts, "total;dur="+fmtMS(t.Total)), ", ")
}

func fmtMS(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// detectResponse is POST /v1/detect.
type detectResponse struct {
	Model      infer.Info  `json:"model"`
	Image      imageInfo   `json:"image"`
	Detections []detection `json:"detections"`
	TimingsMS  timings     `json:"timings_ms"`
}

type imageInfo struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Format string `json:"format"`
}

// detection is one box in pixels of the image as decoded (EXIF
// orientation applied): x2 and y2 exclusive.
type detection struct {
	Box       box     `json:"box"`
	Score     float32 `json:"score"`
	Label     string  `json:"label"`
	Class     int     `json:"class"`
	Model     string  `json:"model"`
	Keypoints []point `json:"keypoints,omitempty"`
}

type point struct {
	X float32 `json:"x"`
	Y float32 `json:"y"`
}

type box struct {
	X1 float32 `json:"x1"`
	Y1 float32 `json:"y1"`
	X2 float32 `json:"x2"`
	Y2 float32 `json:"y2"`
}

func newDetectResponse(res result, format imageFormat) detectResponse {
	r := detectResponse{Model: res.info, Image: imageInfo{Width: res.w, Height: res.h, Format: string(format)},
		Detections: make([]detection, 0, len(res.dets)), TimingsMS: res.timing}
	for _, d := range res.dets {
		out := detection{
			Box:   box{finite(d.Box.X1), finite(d.Box.Y1), finite(d.Box.X2), finite(d.Box.Y2)},
			Score: finite(d.Score), Label: d.Label, Class: d.Class, Model: d.Model,
		}
		for _, p := range d.Keypoints {
			out.Keypoints = append(out.Keypoints, point{finite(p.X), finite(p.Y)})
		}
		r.Detections = append(r.Detections, out)
	}
	return r
}

// finite keeps JSON encodable: NaN and infinities become 0.
func finite(v float32) float32 {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return 0
	}
	return v
}

// ---- metrics ---------------------------------------------------------------

// serveMetrics are the service's Prometheus metrics, in a registry of
// their own (with the Go and process collectors).
type serveMetrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	rejected       *prometheus.CounterVec
	inFlight       prometheus.Gauge
	queued         prometheus.Gauge
	detections     *prometheus.CounterVec
	reloads        prometheus.Counter
	reloadFailures prometheus.Counter
	modelInfo      *prometheus.GaugeVec
}

func newServeMetrics(s *server) *serveMetrics {
	m := &serveMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anonymize_http_requests_total", Help: "HTTP requests answered, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "anonymize_http_request_duration_seconds", Help: "Time from a request's arrival to its answer, by endpoint and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint", "code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anonymize_http_rejected_total", Help: "Requests answered 503: busy (no room to wait) or timeout.",
		}, []string{"reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "anonymize_images_in_progress", Help: "Images being decoded, detected, hidden or encoded now.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "anonymize_images_waiting", Help: "Admitted requests waiting for a processing slot.",
		}),
		detections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anonymize_detections_total", Help: "Regions detected (and, for /v1/anonymize, hidden), by model and label.",
		}, []string{"model", "label"}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anonymize_model_reloads_total", Help: "Models swapped in or removed while serving.",
		}),
		reloadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anonymize_model_reload_failures_total", Help: "Model reloads that failed (the running model stayed).",
		}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "anonymize_model_info", Help: "The models serving now (value 1).",
		}, []string{"model", "version", "sha256", "provider"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.rejected, m.inFlight, m.queued, m.detections,
		m.reloads, m.reloadFailures, m.modelInfo,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "anonymize_ready", Help: "1 while /readyz answers 200."},
			func() float64 {
				if s.ready.Load() && !s.stopping.Load() {
					return 1
				}
				return 0
			}),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *serveMetrics) observe(endpoint string, code int, d time.Duration) {
	c := strconv.Itoa(code)
	m.requests.WithLabelValues(endpoint, c).Inc()
	m.latency.WithLabelValues(endpoint, c).Observe(d.Seconds())
}

func (m *serveMetrics) countDetections(dets []convert.Detection) {
	for _, d := range dets {
		m.detections.WithLabelValues(d.Model, d.Label).Inc()
	}
}

func (m *serveMetrics) setModels(infos []infer.Info) {
	m.modelInfo.Reset()
	for _, i := range infos {
		m.modelInfo.WithLabelValues(i.Name, i.Version, i.SHA256, i.Provider).Set(1)
	}
}

// watchReloads keeps the model metrics in line with the set's reloads,
// until the set is closed.
func (s *server) watchReloads(set *infer.Set) {
	events := set.Subscribe()
	s.m.setModels(set.Models())
	go func() {
		for ev := range events {
			switch {
			case ev.Err != nil:
				s.m.reloadFailures.Inc()
			case ev.Swapped, ev.Removed:
				s.m.reloads.Inc()
			}
			s.m.setModels(set.Models())
		}
	}()
}
