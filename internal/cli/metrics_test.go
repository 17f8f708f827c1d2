package cli

// End-to-end tests of --metrics: a real watch and a real live run (an
// ffmpeg MJPEG server on 127.0.0.1 standing in for a camera) scraped over
// HTTP while they work, as a fleet's Prometheus would.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
)

// series matches a sample line of the Prometheus text format.
var series = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$`)

// scrape reads GET /metrics at addr: each series ("name{labels}", labels
// as the exposition sorts them) with its value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	code, body := get(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	m := map[string]float64{}
	for _, l := range strings.Split(body, "\n") {
		if s := series.FindStringSubmatch(l); s != nil {
			v, err := strconv.ParseFloat(s[2], 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", l, err)
			}
			m[s[1]] = v
		}
	}
	return m
}

// get fetches path at addr; a connection error is code 0.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitMetric waits until cond holds for a scrape of addr.
func waitMetric(t *testing.T, addr, what string, d time.Duration, logs func() string, cond func(m map[string]float64) bool) {
	t.Helper()
	testenv.WaitFor(t, d, what, func() bool {
		code, _ := get(t, addr, "/metrics")
		return code == http.StatusOK && cond(scrape(t, addr))
	}, logs)
}

// modelInfo is the anonymize_model_info series of a model, if shown.
func modelInfo(m map[string]float64, model string) (string, bool) {
	for k, v := range m {
		if strings.HasPrefix(k, "anonymize_model_info{") && strings.Contains(k, `model="`+model+`"`) && v == 1 {
			return k, true
		}
	}
	return "", false
}

// TestWatchMetrics: a watch with --metrics answers /healthz and /readyz,
// and its counters move as a photo dropped into the folder is anonymized:
// a file done, a frame in and out, a detector call timed; the model at
// work is named with its version and sha256.
func TestWatchMetrics(t *testing.T) {
	cfg := watchConfig(t, t.TempDir(), false)
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	os.MkdirAll(in, 0o755)
	os.MkdirAll(out, 0o755)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r := startCLI(t, "--config", cfg, "--watch", in, "--out", out, "--metrics", addr)
	logs := r.stderr.String
	testenv.WaitFor(t, 30*time.Second, "/readyz 200", func() bool { c, _ := get(t, addr, "/readyz"); return c == http.StatusOK }, logs)
	if c, body := get(t, addr, "/healthz"); c != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz: %d %s", c, body)
	}
	before := scrape(t, addr)
	if before["anonymize_frames_in_total"] != 0 || before["anonymize_ready"] != 1 {
		t.Errorf("before any file: frames in %v, ready %v; want 0 and 1", before["anonymize_frames_in_total"], before["anonymize_ready"])
	}
	info, ok := modelInfo(before, "yunet-n-dynamic")
	if !ok || !strings.Contains(info, `version="2023.01"`) || !regexp.MustCompile(`sha256="[0-9a-f]{64}"`).MatchString(info) {
		t.Errorf("no anonymize_model_info for yunet-n-dynamic with version and sha256: %q", info)
	}

	copyFile(t, shared(t, "astronaut.png"), filepath.Join(in, "astronaut.png"))
	waitFile(t, filepath.Join(out, "astronaut.png"), 30*time.Second)
	waitMetric(t, addr, "the file counted", 10*time.Second, logs, func(m map[string]float64) bool {
		return m[`anonymize_files_total{status="done"}`] == 1
	})
	m := scrape(t, addr)
	for k, want := range map[string]float64{"anonymize_frames_in_total": 1, "anonymize_frames_out_total": 1, "anonymize_frames_hidden_whole_total": 0} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if m["anonymize_detect_duration_seconds_count"] < 1 || m["anonymize_detect_duration_seconds_sum"] <= 0 {
		t.Errorf("detector latency not observed: count %v, sum %v", m["anonymize_detect_duration_seconds_count"], m["anonymize_detect_duration_seconds_sum"])
	}
	if c, _ := get(t, addr, "/v1/anonymize"); c != http.StatusNotFound {
		t.Errorf("/v1/anonymize on the metrics address: %d, want 404", c)
	}
	if code := r.stop(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, logs())
	}
	if c, _ := get(t, addr, "/healthz"); c != 0 {
		t.Errorf("/healthz answered %d after the watch stopped; want the address closed", c)
	}
}

// TestLiveMetrics: a live run with --metrics is ready while its stream
// flows, counts frames captured and written and times the detector; when
// the stream is cut /readyz turns 503 while it reconnects, and 200 again,
// with the reconnect counted, once it is back.
func TestLiveMetrics(t *testing.T) {
	cfg := repoConfig(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	srv := startMJPEGServer(t, port)
	r := startCLI(t, "--config", cfg, "--stream", fmt.Sprintf("http://127.0.0.1:%d", port), "--out", t.TempDir(),
		"--segment", "2s", "--metrics", addr)
	logs := r.stderr.String
	ready := func() bool { c, _ := get(t, addr, "/readyz"); return c == http.StatusOK }
	testenv.WaitFor(t, 30*time.Second, "/readyz 200 with the stream open", ready, logs)
	waitMetric(t, addr, "frames in and out", 30*time.Second, logs, func(m map[string]float64) bool {
		return m["anonymize_frames_in_total"] >= 5 && m["anonymize_frames_out_total"] >= 5 && m["anonymize_detect_duration_seconds_count"] >= 5
	})
	first := scrape(t, addr)
	if _, ok := modelInfo(first, "yunet-n-dynamic"); !ok {
		t.Error("no anonymize_model_info for yunet-n-dynamic")
	}
	if first["anonymize_live_reconnects_total"] != 0 {
		t.Errorf("reconnects %v before any cut", first["anonymize_live_reconnects_total"])
	}

	srv.kill()
	testenv.WaitFor(t, 20*time.Second, "/readyz 503 while the stream is down", func() bool { c, _ := get(t, addr, "/readyz"); return c == http.StatusServiceUnavailable }, logs)
	if _, body := get(t, addr, "/readyz"); !strings.Contains(body, "reconnecting") {
		t.Errorf("/readyz while down says %s; want it to say the source is reconnecting", body)
	}
	srv = startMJPEGServer(t, port)
	testenv.WaitFor(t, 30*time.Second, "/readyz 200 after the reconnect", ready, logs)
	m := scrape(t, addr)
	if m["anonymize_live_reconnects_total"] < 1 {
		t.Errorf("reconnects %v after a reconnect", m["anonymize_live_reconnects_total"])
	}
	if m["anonymize_frames_in_total"] < first["anonymize_frames_in_total"] {
		t.Errorf("frames in went back from %v to %v", first["anonymize_frames_in_total"], m["anonymize_frames_in_total"])
	}
	if code := r.stop(t); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, logs())
	}
	srv.kill()
}

// TestMetricsUsageErrors: a bad --metrics address, one in use, and
// --metrics on a run that ends by itself are usage errors (exit 2) that
// name the setting, before any file is touched.
func TestMetricsUsageErrors(t *testing.T) {
	cfg := repoConfig(t)
	in := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--watch", in, "--metrics", "nonsense"}, "metrics.listen"},
		{[]string{"--watch", in, "--metrics", busy.Addr().String()}, "--metrics"},
		{[]string{in, "--metrics", "127.0.0.1:0"}, "--metrics is for the long-running modes"},
	} {
		code, _, stderr := runCLI(t, append([]string{"--config", cfg}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 saying %q", tc.args, code, stderr, tc.want)
		}
	}
}
