package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/metrics"
)

// ---- metrics ---------------------------------------------------------------

// serveMetrics are the service's Prometheus metrics, in a registry of
// their own (with the Go and process collectors); the model metrics are
// those watch and live mode show too (internal/metrics).
type serveMetrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	rejected   *prometheus.CounterVec
	inFlight   prometheus.Gauge
	queued     prometheus.Gauge
	detections *prometheus.CounterVec
	models     *metrics.Models
}

func newServeMetrics(s *Server) *serveMetrics {
	m := &serveMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anonymize_http_requests_total", Help: "HTTP requests answered, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "anonymize_http_request_duration_seconds", Help: "Time from a request's arrival to its answer, by endpoint and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint", "code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anonymize_http_rejected_total", Help: "Requests answered 503: busy (no room to wait), uploads (no upload slot) or timeout.",
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
		models: metrics.NewModels(),
	}
	m.reg = metrics.NewRegistry(append(m.models.Collectors(),
		m.requests, m.latency, m.rejected, m.inFlight, m.queued, m.detections,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "anonymize_uploads_in_progress", Help: "Request bodies being received now."},
			func() float64 { return float64(len(s.uploads)) }),
		metrics.ReadyGauge(func() bool { return s.ready.Load() && !s.stopping.Load() }))...)
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

// watchReloads keeps the model metrics in line with the set's reloads,
// until the set is closed.
func (s *Server) watchReloads(set *infer.Set) { s.m.models.Follow(set) }
