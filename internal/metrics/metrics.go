// Package metrics holds what the long-running modes share for being
// watched: a Prometheus registry with the Go and process collectors, the
// model metrics that follow a set's reloads, and (run.go) the frame
// counters, detector latency and health endpoints of a watch or a live run.
// `anonymize serve` builds its registry from the same parts, so the names
// and labels agree across modes (prefix anonymize_).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/anonymize/anonymize/infer"
)

// NewRegistry is a registry of its own holding cs and the Go and process
// collectors (go_*, process_*).
func NewRegistry(cs ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(cs...)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Models are the model metrics of a running mode:
// anonymize_model_reloads_total, anonymize_model_reload_failures_total and
// anonymize_model_info{model, version, sha256, provider} (1 for each model
// at work). Follow keeps them in line with a set's reloads.
type Models struct {
	reloads  prometheus.Counter
	failures prometheus.Counter
	info     *prometheus.GaugeVec
}

// NewModels makes the model metrics (register Collectors).
func NewModels() *Models {
	return &Models{
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anonymize_model_reloads_total", Help: "Models swapped in or removed while running.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "anonymize_model_reload_failures_total", Help: "Model reloads that failed (the running model stayed).",
		}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "anonymize_model_info", Help: "The models at work now (value 1).",
		}, []string{"model", "version", "sha256", "provider"}),
	}
}

// Collectors are the metrics to register.
func (m *Models) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.reloads, m.failures, m.info}
}

// Set shows infos as the models at work.
func (m *Models) Set(infos []infer.Info) {
	m.info.Reset()
	for _, i := range infos {
		m.info.WithLabelValues(i.Name, i.Version, i.SHA256, i.Provider).Set(1)
	}
}

// Follow shows set's models now and after each of its reloads, counting
// the reloads and the failed ones, until set is closed.
func (m *Models) Follow(set *infer.Set) {
	events := set.Subscribe()
	m.Set(set.Models())
	go func() {
		for ev := range events {
			switch {
			case ev.Err != nil:
				m.failures.Inc()
			case ev.Swapped, ev.Removed:
				m.reloads.Inc()
			}
			m.Set(set.Models())
		}
	}()
}

// ReadyGauge is anonymize_ready: 1 while ready says so (while /readyz
// answers 200), read at each scrape.
func ReadyGauge(ready func() bool) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "anonymize_ready", Help: "1 while /readyz answers 200."},
		func() float64 {
			if ready() {
				return 1
			}
			return 0
		})
}
