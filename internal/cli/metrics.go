package cli

import (
	"log/slog"

	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/metrics"
)

// startMetrics serves the health endpoints and metrics of a watch or live
// run at metrics.listen (--metrics), from before the models load: /readyz
// says 503 until the run is ready. Without an address the run is nil (it
// counts nothing) and stop does nothing. An address that cannot be bound
// is a usage error.
func startMetrics(cfg config.Config, log *slog.Logger) (m *metrics.Run, stop func(), err error) {
	if cfg.Metrics.Listen == "" {
		return nil, func() {}, nil
	}
	m = metrics.NewRun()
	m.SetReady(func() (bool, string) { return false, "loading the models" })
	if stop, err = m.Serve(cfg.Metrics.Listen, log); err != nil {
		return nil, nil, usageErr("%v", err)
	}
	return m, stop, nil
}
