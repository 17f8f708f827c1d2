package eval

import (
	"os"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
)

// TestMain fails the package when a test leaves a gocv.Mat open; the check
// runs only under gocv's matprofile tag: go test -tags matprofile ./video/eval/
func TestMain(m *testing.M) { os.Exit(testenv.CheckMats(m)) }
