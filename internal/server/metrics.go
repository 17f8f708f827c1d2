package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
)

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

func newServeMetrics(s *Server) *serveMetrics {
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
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "anonymize_uploads_in_progress", Help: "Request bodies being received now."},
			func() float64 { return float64(len(s.uploads)) }),
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
func (s *Server) watchReloads(set *infer.Set) {
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
