package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
)

// TestMainHelperProcess is the anonymize binary in a child process for
// TestSignals: main itself, with its signal handling.
func TestMainHelperProcess(t *testing.T) {
	args := os.Getenv("TEST_ANONYMIZE_MAIN_HELPER")
	if args == "" {
		t.Skip("helper process for TestSignals")
	}
	os.Args = append([]string{"anonymize"}, strings.Split(args, "\n")...)
	main()
}

// TestSignals runs live mode in a child process on a video file played in
// real time: SIGHUP reloads the models, and SIGTERM in the middle of a
// segment stops it with exit 0, leaving that segment finalised and playable.
func TestSignals(t *testing.T) {
	testenv.Model(t, "yunet-n-dynamic")
	cfg := filepath.Join(testenv.RepoRoot(), "config.toml")
	clip := testenv.Shared(t, filepath.Join("data", "video", "video_02.mp4"))
	out := t.TempDir()
	args := []string{"--config", cfg, "--stream", clip, "--segment", "60s", "--out", out, "--style", "solid"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainHelperProcess$")
	cmd.Env = append(os.Environ(), "TEST_ANONYMIZE_MAIN_HELPER="+strings.Join(args, "\n"))
	var stderr testenv.LogBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	stderr.WaitFor(t, "live source opened", 20*time.Second)

	for range 3 { // a burst merges: at least one reload, never a crash
		cmd.Process.Signal(syscall.SIGHUP)
	}
	stderr.WaitFor(t, "reload requested (SIGHUP)", 10*time.Second)
	// Frames past the reload, then SIGTERM mid-segment.
	time.Sleep(2 * time.Second) // the clip plays in real time: two seconds of it
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err // for the deferred wait
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want 0; log:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30 s of SIGTERM; log:\n%s", stderr.String())
	}
	// The last segment is the one interrupted: it must be finalised (no
	// temporary file left) and play to its end.
	paths, _ := filepath.Glob(filepath.Join(out, "*.mp4"))
	if len(paths) == 0 {
		t.Fatalf("no segment after SIGTERM; log:\n%s", stderr.String())
	}
	if tmp, _ := filepath.Glob(filepath.Join(out, ".*tmp*")); len(tmp) > 0 {
		t.Errorf("temporary files left after SIGTERM: %v", tmp)
	}
	last := paths[len(paths)-1]
	probe, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", last).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", last, err)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(probe))); err != nil || n == 0 {
		t.Errorf("%s: %q frames: the interrupted segment does not play", last, probe)
	}
	if !strings.Contains(stderr.String(), "segment written") {
		t.Errorf("the interrupted segment is not logged as written; log:\n%s", stderr.String())
	}
}
