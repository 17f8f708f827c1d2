//go:build matprofile

package testenv

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"gocv.io/x/gocv"
)

// CheckMats runs the package's tests and, because this build carries gocv's
// matprofile tag, then checks that every gocv.Mat is closed. A leak makes it
// return 1 (so the package fails) after printing the stack that created each
// Mat still open. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.CheckMats(m)) }
//
// A package-level Mat that is never closed counts as a leak too.
func CheckMats(m *testing.M) int {
	code := m.Run()
	if n := gocv.MatProfile.Count(); n != 0 {
		var b bytes.Buffer
		_ = gocv.MatProfile.WriteTo(&b, 1)
		fmt.Fprintf(os.Stderr, "FAIL: %d gocv.Mat(s) left open after the tests; created at:\n%s", n, b.String())
		if code == 0 {
			code = 1
		}
	}
	return code
}
