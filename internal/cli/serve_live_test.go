package cli

// The service with a live source: serve --stream anonymizes a loopback
// MJPEG stream (ffmpeg, as in the live mode tests) and serves the
// anonymized view at /v1/stream.mjpeg, behind the token.

import (
	"bufio"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/server"
	"github.com/anonymize/anonymize/internal/testenv"
	"gocv.io/x/gocv"
)

// TestServeLiveStream: the live view only, then with --out, which also
// writes segment files as live mode does.
func TestServeLiveStream(t *testing.T) {
	t.Run("view", func(t *testing.T) { testServeLiveStream(t, "") })
	t.Run("out", func(t *testing.T) { testServeLiveStream(t, t.TempDir()) })
}

func testServeLiveStream(t *testing.T, out string) {
	const token = "live-test-token"
	port := freePort(t)
	startMJPEGServer(t, port)
	args := []string{"--config", defaultServeConfig(t, fmt.Sprintf("token = %q", token)),
		"--stream", fmt.Sprintf("http://127.0.0.1:%d", port), "--style", "solid"}
	if out != "" {
		args = append(args, "--out", out)
	}
	srv := startServe(t, nil, args...)

	// Behind the token like every endpoint but the health checks.
	checkAPIError(t, "stream without token", srv.get(t, server.StreamPath), http.StatusUnauthorized, "unauthorized")

	req, err := http.NewRequest(http.MethodGet, srv.url+server.StreamPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("stream: %v\n%s", err, srv.log)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("stream: %d %s", resp.StatusCode, body)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("stream content type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	part, err := multipart.NewReader(bufio.NewReader(resp.Body), params["boundary"]).NextPart()
	if err != nil {
		t.Fatalf("stream: first part: %v\n%s", err, srv.log)
	}
	data, err := io.ReadAll(part)
	if err != nil {
		t.Fatalf("stream: first part: %v", err)
	}
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	defer m.Close()
	if err != nil || m.Empty() {
		t.Fatalf("stream part is not a JPEG (%d bytes): %v", len(data), err)
	}
	if m.Cols() != 512 || m.Rows() != 512 {
		t.Errorf("live view frame %dx%d, want the stream's 512x512", m.Cols(), m.Rows())
	}
	if !darkAt(m, faceX, faceY) {
		t.Errorf("the face at (%d, %d) is not hidden in the live view", faceX, faceY)
	}
	resp.Body.Close()

	if code := srv.stop(t); code != 0 {
		t.Errorf("serve exited %d after the stop:\n%s", code, srv.log)
	}
	if out != "" {
		if paths, _ := segmentFiles(t, out); len(paths) == 0 {
			t.Errorf("--out %s: no segment file after the stop:\n%s", out, srv.log)
		} else {
			checkSegment(t, paths[0])
		}
	}
}

func TestServeLiveUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--camera", "0", "--stream", "http://127.0.0.1:1"},
		{"--out", t.TempDir()},
		{"--camera", "x"},
		{"--stream", "/no/such/file.mp4"},
	} {
		log := new(testenv.LogBuffer)
		code := run(t.Context(), append([]string{"anonymize", "serve", "--listen", "127.0.0.1:0", "--config", defaultServeConfig(t)}, args...), io.Discard, log)
		if code != 2 {
			t.Errorf("serve %q: exit %d, want 2 (usage):\n%s", args, code, log)
		}
	}
}
