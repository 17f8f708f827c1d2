// Package testenv finds the real parts tests run on: the ONNX Runtime
// library installed by scripts/setup.sh and the shared photos and models
// beside the checkout (../shared). A test that needs a missing part is
// skipped with a message saying how to install it, so `go test ./convert`
// on a clean clone still runs every test that needs none; under CI (CI set)
// a missing part fails the test instead: there, it is a broken set-up.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// RepoRoot is the folder holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir is ../shared beside the checkout, or $ANONYMIZE_SHARED.
func SharedDir() string {
	if d := os.Getenv("ANONYMIZE_SHARED"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "..", "shared")
}

// Shared returns the path of rel under the shared folder, failing the test
// when it does not exist.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(SharedDir(), rel)
	if _, err := os.Stat(p); err != nil {
		missing(t, "test data missing: %v (the shared folder must sit beside the checkout, or set ANONYMIZE_SHARED)", err)
	}
	return p
}

// ORTLibrary is the ONNX Runtime shared library: $ONNXRUNTIME_LIB, else the
// one scripts/setup.sh installs under third_party/.
func ORTLibrary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("ONNXRUNTIME_LIB")
	if p == "" {
		p = filepath.Join(RepoRoot(), "third_party", "onnxruntime", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(p); err != nil {
		missing(t, "ONNX Runtime library missing: %v (run scripts/setup.sh, or set ONNXRUNTIME_LIB)", err)
	}
	return p
}

// ModelsDir is the models directory scripts/setup.sh fills.
func ModelsDir() string { return filepath.Join(RepoRoot(), "models") }

// Model returns the folder of an installed model, failing when absent.
func Model(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(ModelsDir(), name)
	if _, err := os.Stat(filepath.Join(p, "model.onnx")); err != nil {
		missing(t, "model %s not installed: %v (run scripts/setup.sh)", name, err)
	}
	return p
}

var ortOnce sync.Once
var ortErr error

// InitORT initialises the process-wide ONNX Runtime environment once.
func InitORT(t testing.TB) {
	t.Helper()
	lib := ORTLibrary(t)
	ortOnce.Do(func() {
		if ort.IsInitialized() {
			return
		}
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if ortErr != nil {
		t.Fatalf("initialise ONNX Runtime from %s: %v", lib, ortErr)
	}
}

// missing stops a test that needs a part that is not there: skipped, or
// failed under CI.
func missing(t testing.TB, format string, a ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, a...)
	}
	t.Skipf(format, a...)
}
