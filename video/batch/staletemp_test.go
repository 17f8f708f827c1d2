package batch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
)

// TestRunRemovesStaleTemps: a run removes the temporary files a killed run
// left in its output folder (our own names, unmodified for over
// StaleTempAge), and nothing else: not a fresh one (a run writing there
// now), not a user's file, not a file in a folder it does not write to.
func TestRunRemovesStaleTemps(t *testing.T) {
	out, other := t.TempDir(), t.TempDir()
	old := time.Now().Add(-2 * StaleTempAge)
	files := map[string]bool{ // name: removed
		".astronaut.png.tmp-123": true,
		".clip.tmp-456.mp4":      true,
		".fresh.png.tmp-789":     false,
		".notes.tmp-1":           false,
		"photo.png.tmp-5":        false,
		".hidden.jpg":            false,
	}
	for name := range files {
		p := filepath.Join(out, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if name != ".fresh.png.tmp-789" {
			os.Chtimes(p, old, old)
		}
	}
	elsewhere := filepath.Join(other, ".left.png.tmp-1")
	os.WriteFile(elsewhere, []byte("x"), 0o644)
	os.Chtimes(elsewhere, old, old)

	var logs testenv.LogBuffer
	task := Task{Input: testenv.Shared(t, "data/faces/astronaut.png"), Output: filepath.Join(out, "astronaut.png")}
	if sum := Run(context.Background(), nopDetector{}, []Task{task}, Options{Hide: solidBlack, Log: logs.Logger()}, nil); sum.Done != 1 {
		t.Fatalf("summary %+v", sum)
	}
	var left []string
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	for name, removed := range files {
		if slices.Contains(left, name) == removed {
			t.Errorf("%s: removed %v, want %v (left: %v)", name, !removed, removed, left)
		}
	}
	if _, err := os.Stat(elsewhere); err != nil {
		t.Errorf("a temporary file outside the output folders was touched: %v", err)
	}
	logs.WaitFor(t, ".astronaut.png.tmp-123", time.Second)
}
