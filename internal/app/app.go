// Package app runs anonymize's jobs: a folder run, a watch, a live source,
// an evaluation, with the detector loaded from the config, the reloader and
// the recall gate around it, and the audit record after. It knows nothing
// of flags or exit codes: the commands (internal/cli) turn those into a
// config.Config and back; a setup error (a model that does not load, a
// camera that is not there) is a *SetupError, told apart from a run that
// went wrong.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/models"
)

// SetupError is an error before any input was touched: the settings, the
// models, a source or a destination that cannot be used. The commands exit
// 2 on it, and 1 on other errors.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

func setupErr(format string, a ...any) error {
	return &SetupError{fmt.Errorf(format, a...)}
}

// LoadDetector starts the runtime and loads every configured model. All
// must load: running without one would leave its classes unhidden.
func LoadDetector(cfg config.Config, log *slog.Logger) (*infer.Set, error) {
	rt, err := infer.Init(infer.Options{
		Library: cfg.Runtime.Library, Providers: cfg.Runtime.Providers,
		IntraOpThreads: cfg.Runtime.IntraOpThreads, InterOpThreads: cfg.Runtime.InterOpThreads,
		Logger: log,
	})
	if err != nil {
		return nil, setupErr("%v", err)
	}
	set, err := rt.NewSet(cfg.Specs())
	if err != nil {
		hint := ""
		if errors.Is(err, models.ErrNoManifest) || errors.Is(err, os.ErrNotExist) {
			hint = " (installed models: anonymize models list; install one with anonymize models pull NAME; scripts/setup.sh installs the defaults)"
		}
		if len(cfg.ModelNames()) > 1 {
			return nil, setupErr("not starting: every model must load, or its classes would go unhidden: %v%s", err, hint)
		}
		return nil, setupErr("%v%s", err, hint)
	}
	installGate(cfg, set, log)
	return set, nil
}
