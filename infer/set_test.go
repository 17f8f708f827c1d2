package infer_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anonymize/anonymize/infer"
)

// TestCloseDuringGatedReload: Close does not wait for a reload held in its
// gate (as a recall evaluation would hold it): the gate's context ends, the
// reload swaps nothing in, and the set stays closed.
func TestCloseDuringGatedReload(t *testing.T) {
	rt := newRuntime(t)
	dir := t.TempDir()
	installAs(t, dir, "faces", "yunet-n-dynamic", "1")
	spec := []infer.Spec{{Dir: filepath.Join(dir, "faces")}}
	set, err := rt.NewSet(spec)
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	set.Gate = func(ctx context.Context, m *infer.Model, after infer.Detector) error {
		close(entered)
		<-ctx.Done() // a long evaluation, cut short only by Close
		return ctx.Err()
	}
	installAs(t, dir, "faces", "yunet-n-dynamic", "2")
	reloaded := make(chan error, 1)
	go func() { reloaded <- set.Reload(spec) }()
	<-entered

	closed := make(chan error, 1)
	go func() { closed <- set.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close waits for the reload held in its gate")
	}
	if err := <-reloaded; err == nil {
		t.Error("the reload cut short by Close reports no error")
	}
	if err := set.Reload(spec); !errors.Is(err, infer.ErrClosed) {
		t.Errorf("reload after close: %v, want ErrClosed", err)
	}
	if n := len(set.Models()); n != 1 || set.Info().Version != "1" {
		t.Errorf("after close: %d models, version %q; want the one that ran (1), nothing swapped in", n, set.Info().Version)
	}
}

// TestCombineNamesParts: several models as one name each part with its
// own sha256 and threshold; the combined block has none (no sha256 "" or
// threshold 0 to misread) and names each label once.
func TestCombineNamesParts(t *testing.T) {
	a := infer.Info{Name: "a", Version: "1", SHA256: "aa", Threshold: 0.25, Hide: []string{"face"}}
	b := infer.Info{Name: "b", Version: "2", SHA256: "bb", Threshold: 0.15, Hide: []string{"face", "person"}}
	c := infer.Combine([]infer.Info{a, b})
	if c.Name != "a+b" || !slices.Equal(c.Hide, []string{"face", "person"}) || len(c.Models) != 2 {
		t.Errorf("Combine = %+v", c)
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(data, &m)
	if _, ok := m["sha256"]; ok {
		t.Errorf("combined block has a sha256: %s", data)
	}
	if _, ok := m["threshold"]; ok {
		t.Errorf("combined block has a threshold: %s", data)
	}
	parts, _ := m["models"].([]any)
	if len(parts) != 2 || parts[0].(map[string]any)["sha256"] != "aa" || parts[1].(map[string]any)["threshold"] != 0.15 {
		t.Errorf("parts %s", data)
	}
}
