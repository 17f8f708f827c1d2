//go:build !matprofile

package testenv

import "testing"

// CheckMats runs the package's tests. Only a build with gocv's matprofile tag
// (go test -tags matprofile) can count live Mats; without it this just
// returns m.Run()'s exit code.
func CheckMats(m *testing.M) int { return m.Run() }
