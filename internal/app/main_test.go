package app

import (
	"os"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
)

// TestMain fails the package when a test leaves a gocv.Mat open (under
// gocv's matprofile tag).
func TestMain(m *testing.M) { os.Exit(testenv.CheckMats(m)) }
