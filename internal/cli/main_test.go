package cli

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
)

// TestMain fails the package when a test leaves a gocv.Mat open; the check
// runs only under gocv's matprofile tag: go test -tags matprofile .
func TestMain(m *testing.M) { os.Exit(testenv.CheckMats(m)) }

// run runs the app in-process as main does, without signals: a test asks
// for a reload by sending on Env.Reload (see startCLI and startServe).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, Env{Args: args, Stdout: stdout, Stderr: stderr})
}
