// Package infer runs ONNX models: the process-wide ONNX Runtime environment,
// execution-provider selection, and detectors built from model folders.
package infer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv is the environment variable consulted for the ONNX Runtime
// library when the config names none.
const LibraryEnv = "ONNXRUNTIME_LIB"

// Providers the runtime knows, in the names config.toml uses.
var knownProviders = []string{"tensorrt", "cuda", "cpu"}

// Options configure the runtime.
type Options struct {
	// Library is the path of libonnxruntime; empty: $ONNXRUNTIME_LIB.
	Library string
	// Providers are tried in order; the first that starts is used.
	Providers []string
	// IntraOpThreads, InterOpThreads: 0 leaves ONNX Runtime's default.
	IntraOpThreads, InterOpThreads int
	// Logger receives provider choices and fallbacks (default slog.Default).
	Logger *slog.Logger
}

// Runtime is the process-wide ONNX Runtime environment. Create it once in
// main with Init; every model session is made through it.
type Runtime struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	missing map[string]error // providers that could not be set up at all
	// noCanary are the labels logged as having no canary (logNoCanary).
	noCanary map[string]bool
}

var (
	initMu  sync.Mutex
	initLib string
)

// ErrNoLibrary means no ONNX Runtime library path was configured.
var ErrNoLibrary = errors.New("no ONNX Runtime library: set [runtime] library in config.toml or $" + LibraryEnv + " (scripts/setup.sh installs one under third_party/)")

// Init initialises the ONNX Runtime environment (once per process; a second
// call with the same library, or with none, reuses it; one naming another
// library is an error, as the environment cannot switch) and returns a
// Runtime.
func Init(o Options) (*Runtime, error) {
	if o.Library == "" {
		o.Library = os.Getenv(LibraryEnv)
	}
	if len(o.Providers) == 0 {
		o.Providers = []string{"cpu"}
	}
	for _, p := range o.Providers {
		if !validProvider(p) {
			return nil, fmt.Errorf("unknown execution provider %q (known: %s)", p, strings.Join(knownProviders, ", "))
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	initMu.Lock()
	defer initMu.Unlock()
	if !ort.IsInitialized() {
		if o.Library == "" {
			return nil, ErrNoLibrary
		}
		if _, err := os.Stat(o.Library); err != nil {
			return nil, fmt.Errorf("onnx runtime library: %w", err)
		}
		ort.SetSharedLibraryPath(o.Library)
		if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
			return nil, fmt.Errorf("initialise onnx runtime from %s: %w", o.Library, err)
		}
		initLib = o.Library
		o.Logger.Debug("onnx runtime ready", "library", o.Library, "version", ort.GetVersion())
	} else if o.Library != "" && initLib != "" && !sameFile(o.Library, initLib) {
		return nil, fmt.Errorf("onnx runtime is already initialised from %s; using %s needs a restart", initLib, o.Library)
	}
	return &Runtime{opts: o, log: o.Logger}, nil
}

// sameFile reports whether paths a and b name the same file (through links).
func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// Version is the ONNX Runtime library's version string.
func (r *Runtime) Version() string { return ort.GetVersion() }

func validProvider(p string) bool {
	for _, k := range knownProviders {
		if p == k {
			return true
		}
	}
	return false
}

// newSessionOptions makes session options for one provider. The caller
// destroys them.
func (r *Runtime) newSessionOptions(provider string) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*ort.SessionOptions, error) {
		so.Destroy()
		return nil, err
	}
	if n := r.opts.IntraOpThreads; n > 0 {
		if err := so.SetIntraOpNumThreads(n); err != nil {
			return fail(err)
		}
	}
	if n := r.opts.InterOpThreads; n > 0 {
		if err := so.SetInterOpNumThreads(n); err != nil {
			return fail(err)
		}
	}
	switch provider {
	case "cuda":
		co, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return fail(err)
		}
		err = so.AppendExecutionProviderCUDA(co)
		co.Destroy()
		if err != nil {
			return fail(err)
		}
	case "tensorrt":
		to, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return fail(err)
		}
		err = so.AppendExecutionProviderTensorRT(to)
		to.Destroy()
		if err != nil {
			return fail(err)
		}
	}
	return so, nil
}

// openSession creates a session for the model at path, trying each
// configured provider in turn. It returns the session and the provider used.
func (r *Runtime) openSession(path string, inputs, outputs []string) (*ort.DynamicAdvancedSession, string, error) {
	var errs []error
	for _, p := range r.opts.Providers {
		r.mu.Lock()
		missing := r.missing[p]
		r.mu.Unlock()
		if missing != nil {
			// Its library did not load for an earlier model: said once.
			errs = append(errs, fmt.Errorf("%s: %w", p, missing))
			continue
		}
		so, err := r.newSessionOptions(p)
		if err != nil {
			// The provider itself could not be set up (its shared library,
			// a driver): no model will fare better.
			r.mu.Lock()
			if r.missing == nil {
				r.missing = map[string]error{}
			}
			r.missing[p] = err
			r.mu.Unlock()
		} else {
			var s *ort.DynamicAdvancedSession
			s, err = ort.NewDynamicAdvancedSession(path, inputs, outputs, so)
			so.Destroy()
			if err == nil {
				return s, p, nil
			}
		}
		r.log.Info("execution provider unavailable, trying the next", "provider", p, "model", path, "err", firstLine(err))
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
	}
	return nil, "", fmt.Errorf("no execution provider could run %s: %w", path, errors.Join(errs...))
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
