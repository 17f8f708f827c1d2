package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves r's health endpoints, as `anonymize serve` does:
// GET /healthz (200 while the process runs), GET /readyz (200 once ready,
// else 503 with the reason) and GET /metrics (Prometheus text format).
// Errors are JSON {"error", "code"} like the service's.
func (r *Run) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ok, why := r.Ready(); !ok {
			w.Header().Set("Retry-After", "1")
			WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not ready: " + why, "code": "not_ready"})
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		WriteJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no endpoint %s (GET /healthz, /readyz, /metrics)", req.URL.Path), "code": "not_found"})
	})
	return mux
}

// WriteJSON answers v as JSON with status, as every endpoint of serve and
// of --metrics does; a v that cannot be encoded is a 500 with an error body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error":"cannot encode the response","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// Serve binds addr at once (an address that cannot be bound is the error)
// and serves r's Handler on it in the background; stop closes it. An empty
// host is loopback (127.0.0.1), as for serve.listen and live.preview; a
// host beyond loopback is logged as a warning: the endpoints need no token.
func (r *Run) Serve(addr string, log *slog.Logger) (stop func(), err error) {
	host, port, _ := net.SplitHostPort(addr) // Check has parsed it
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("metrics address %q (--metrics, metrics.listen): %w", addr, err)
	}
	if host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			log.Warn("metrics served beyond this machine, without a token", "addr", ln.Addr().String())
		}
	}
	hs := &http.Server{
		Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics: serving stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("metrics: serving /healthz, /readyz and /metrics", "url", "http://"+ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if hs.Shutdown(ctx) != nil {
			hs.Close()
		}
		<-done
	}, nil
}
