// Package server is the handler of `anonymize serve`: an HTTP service that
// anonymizes and detects on images other programs send it.
//
// A request for /v1/anonymize or /v1/detect goes through cheap checks first
// (auth, method, query, Content-Type, declared length). Its body is read
// under an upload slot (at most serve.max_uploads at once; beyond, 503 at
// once) within serve.body_timeout_ms, capped at max_body_bytes; the format
// is recognised by its signature and the pixel size read from the header
// (capped at max_pixels: a decompression bomb is refused before it is
// decoded). Only then is it admitted: at most serve.max_concurrent requests
// are processed and serve.queue more may wait; beyond that it gets 503 with
// Retry-After at once. So a client that sends its body slowly holds an
// upload slot for at most the body timeout, never a place in processing.
// An admitted request waits for a processing slot. Decoding, detection,
// hiding and encoding run in a worker that holds the slot until it is done,
// so the bound holds even for a request whose deadline passed (it is
// answered 503 at its deadline; its worker finishes and discards).
//
// Models hot-swap under the service (infer.Set): a request in flight
// finishes on the model it started on, and every response names the model
// version that served it.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/metrics"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/video/hide"
	"github.com/anonymize/anonymize/video/live"
)

// Service tunables that are not settings.
const (
	// retryAfter is the Retry-After of a 503, in seconds.
	retryAfter = "1"
	// drainGrace is added to the request timeout for the shutdown:
	// requests in flight get that long to finish.
	drainGrace = 5 * time.Second
	// writeTimeout bounds writing a response (at least).
	writeTimeout = 30 * time.Second
	// StreamPath is the live view's path (see handleStream).
	StreamPath = "/v1/stream.mjpeg"
)

// Server is the service's handler.
type Server struct {
	cfg     config.Config
	det     Detector
	log     *slog.Logger
	hide    hide.Options
	timeout time.Duration // 0: none
	// bodyTimeout bounds reading a body (0: none).
	bodyTimeout time.Duration
	token       [sha256.Size]byte
	auth        bool

	uploads chan struct{} // bodies being read
	admit   chan struct{} // admitted requests: processing or waiting
	slots   chan struct{} // processing
	workers sync.WaitGroup
	// ready is set once the models are loaded (and det with them);
	// handlers read det only after reading ready true.
	ready    atomic.Bool
	stopping atomic.Bool
	served   atomic.Int64

	m   *serveMetrics
	mux *http.ServeMux
	// routes are the endpoints mux serves, as registered (Routes).
	routes []Route
	// live is the anonymized live view (serve --camera/--stream); nil
	// without a live source. Set before serving.
	live *live.Preview
}

// Detector is what the service needs of the models (*infer.Set).
type Detector interface {
	DetectInfo(img gocv.Mat) ([]convert.Detection, infer.Info, error)
	Models() []infer.Info
}

// SetLive gives the service the anonymized view of a live source, served
// at StreamPath. Call it before serving.
func (s *Server) SetLive(p *live.Preview) { s.live = p }

// Live is the live view given to SetLive (nil: none).
func (s *Server) Live() *live.Preview { return s.live }

// CloseLive ends the live view's streams, so they do not hold up a drain.
func (s *Server) CloseLive() { s.live.Close() }

// Start publishes the models to the handlers: det serves the requests
// (set, or a test's wrapper of it), and set's reloads are counted in the
// metrics. The model endpoints answer from then on.
func (s *Server) Start(det Detector, set *infer.Set) {
	s.det = det // published to the handlers by the store to s.ready
	s.watchReloads(set)
	s.ready.Store(true)
}

// Stop marks the service as stopping (/readyz says so) and returns how long
// the requests in flight get to finish.
func (s *Server) Stop() (grace time.Duration) {
	s.stopping.Store(true)
	return s.timeout + drainGrace
}

// Wait waits for the workers of requests already answered (a request
// answered 503 at its deadline leaves its worker to finish).
func (s *Server) Wait() { s.workers.Wait() }

// Served is the number of requests handled.
func (s *Server) Served() int64 { return s.served.Load() }

// HTTPServer is the http.Server for s: header and idle timeouts, a header
// cap, errors to log; requests are not cancelled with base, they drain.
func (s *Server) HTTPServer(base context.Context) *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(base) },
	}
}

// New builds the service's handler for cfg (validated). It answers
// /healthz at once and the model endpoints once Start has given it the
// models.
func New(cfg config.Config, log *slog.Logger) *Server {
	hide, _ := cfg.HideOptions() // validated in settings
	s := &Server{
		cfg: cfg, log: log, hide: hide,
		timeout:     time.Duration(cfg.Serve.TimeoutMS) * time.Millisecond,
		bodyTimeout: time.Duration(cfg.Serve.BodyTimeoutMS) * time.Millisecond,
		auth:        cfg.Serve.Token != "",
		uploads:     make(chan struct{}, cfg.Serve.MaxUploads),
		admit:       make(chan struct{}, cfg.Serve.MaxConcurrent+cfg.Serve.Queue),
		slots:       make(chan struct{}, cfg.Serve.MaxConcurrent),
	}
	s.token = sha256.Sum256([]byte(cfg.Serve.Token))
	s.m = newServeMetrics(s)
	s.mux = s.newMux()
	return s
}

// Who may call an endpoint, and when.
const (
	needsToken  = 1 << iota // the bearer token, when one is set
	needsModels             // the models loaded (else 503 not_ready)
)

// Route is one endpoint of the service: a method and a path.
type Route struct{ Method, Path string }

// Routes are the endpoints the service serves, in registration order
// (docs/API.md and openapi.json describe each).
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// newMux is the service's ServeMux: each endpoint by method and path,
// wrapped in the checks it needs; the same path with another method is 405
// and an unknown path 404, both as JSON errors like every other.
func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(method, path string, needs int, h http.HandlerFunc) {
		s.routes = append(s.routes, Route{method, path})
		mux.Handle(method+" "+path, s.observe(path, s.guard(needs, h)))
		mux.Handle(path, s.observe(path, s.guard(needs&needsToken, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			s.fail(w, http.StatusMethodNotAllowed, "method_not_allowed", "%s %s: use %s", r.Method, r.URL.Path, method)
		})))
	}
	handle(http.MethodPost, "/v1/anonymize", needsToken|needsModels, func(w http.ResponseWriter, r *http.Request) { s.handleImage(w, r, true) })
	handle(http.MethodPost, "/v1/detect", needsToken|needsModels, func(w http.ResponseWriter, r *http.Request) { s.handleImage(w, r, false) })
	handle(http.MethodGet, "/v1/models", needsToken|needsModels, s.handleModels)
	handle(http.MethodGet, StreamPath, needsToken, s.handleStream)
	handle(http.MethodGet, "/healthz", 0, s.handleHealth)
	handle(http.MethodGet, "/readyz", 0, s.handleReady)
	handle(http.MethodGet, "/metrics", needsToken, promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}).ServeHTTP)
	handle(http.MethodGet, "/openapi.json", 0, handleOpenAPI)
	mux.Handle("/", s.observe("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusNotFound, "not_found", "no endpoint %s (POST /v1/anonymize, POST /v1/detect, GET /v1/models, /v1/stream.mjpeg, /healthz, /readyz, /metrics, /openapi.json)", r.URL.Path)
	})))
	return mux
}

// ServeHTTP serves every request through the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// observe counts and logs each request of an endpoint (the metrics'
// endpoint label), with the status it was answered.
func (s *Server) observe(endpoint string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
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
		h.ServeHTTP(sw, r)
	})
}

// guard answers 401 without the token and 503 before the models are
// loaded, as needs asks.
func (s *Server) guard(needs int, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case needs&needsToken != 0 && !s.authorized(r):
			w.Header().Set("WWW-Authenticate", `Bearer realm="anonymize"`)
			s.fail(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token (Authorization: Bearer TOKEN; serve.token)")
		case needs&needsModels != 0 && !s.ready.Load():
			s.fail(w, http.StatusServiceUnavailable, "not_ready", "not ready: the models are still loading")
		default:
			h(w, r)
		}
	}
}

func (s *Server) authorized(r *http.Request) bool {
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

func (s *Server) fail(w http.ResponseWriter, status int, code, format string, a ...any) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, a...), Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) { metrics.WriteJSON(w, status, v) }

// openAPI is the OpenAPI 3.0 description of every route (openapi.json).
//
//go:embed openapi.json
var openAPI []byte

// handleOpenAPI serves the service's OpenAPI description. It needs no
// token, like /healthz: it tells nothing a client could not read in
// docs/API.md.
func handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPI)))
	w.Write(openAPI)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady is 200 once the models are loaded, until the service
// begins to stop.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
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
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
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

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
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
