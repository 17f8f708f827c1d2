package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anonymize/anonymize/video/imageio"
)

// rssBytes is the process's resident memory (VmRSS), Go heap and C
// allocations (OpenCV, ONNX Runtime) together.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status to read resident memory from: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS: %q", l)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// settledRSS is resident memory once the Go heap has been collected and
// returned to the system.
func settledRSS(t *testing.T) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rssBytes(t)
}

// loadResult counts the answers of a load run.
type loadResult struct {
	byStatus  map[int]int
	errors    []string
	latencies []time.Duration
	elapsed   time.Duration
}

// hammer sends n copies of body to path from conc clients at once. Every
// answer must be 200 with a JPEG naming the model version, or 503 with
// Retry-After; anything else is recorded as an error.
func hammer(srv *serveRun, path string, body []byte, n, conc int) loadResult {
	res := loadResult{byStatus: map[int]int{}}
	var mu sync.Mutex
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodPost, srv.url+path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "image/jpeg")
				resp, err := srv.client.Do(req)
				var problem string
				status := 0
				if err != nil {
					problem = err.Error()
				} else {
					data, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
					switch {
					case rerr != nil:
						problem = "reading: " + rerr.Error()
					case status == http.StatusOK && (imageio.Sniff(data) != imageio.JPEG || resp.Header.Get("X-Anonymize-Model-Version") == ""):
						problem = "200 without a JPEG naming the model version"
					case status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
						problem = "503 without Retry-After"
					case status != http.StatusOK && status != http.StatusServiceUnavailable:
						problem = fmt.Sprintf("status %d: %.200s", status, data)
					}
				}
				d := time.Since(t0)
				mu.Lock()
				res.byStatus[status]++
				if problem != "" {
					res.errors = append(res.errors, problem)
				}
				if status == http.StatusOK {
					res.latencies = append(res.latencies, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

func (r loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
}

// TestServeLoad sends 2,000 requests for /v1/anonymize of a 320x240 JPEG
// from 16 clients at once over loopback, with the default limits (one
// image per core, 32 waiting): no answer but 200 or 503, and resident
// memory after the run at most 1.5 times what it was after a warm-up of
// the same shape (Go heap collected and returned first; the C allocators
// of OpenCV and ONNX Runtime keep what they reached in the warm-up).
func TestServeLoad(t *testing.T) {
	const (
		requests    = 2000
		concurrency = 16
		warmup      = 300
	)
	srv := startServe(t, nil, "--config", defaultServeConfig(t), "--quiet")
	jpeg := facePhoto(t, 320, 240, ".jpg")

	w := hammer(srv, "/v1/anonymize", jpeg, warmup, concurrency)
	if len(w.errors) > 0 {
		t.Fatalf("warm-up: %d errors, first: %s", len(w.errors), w.errors[0])
	}
	srv.client.CloseIdleConnections()
	warm := settledRSS(t)

	r := hammer(srv, "/v1/anonymize", jpeg, requests, concurrency)
	srv.client.CloseIdleConnections()
	after := settledRSS(t)

	for i, e := range r.errors {
		if i == 5 {
			t.Errorf("... %d errors in all", len(r.errors))
			break
		}
		t.Errorf("load: %s", e)
	}
	ok := r.byStatus[http.StatusOK]
	t.Logf("%d requests at concurrency %d in %.1f s: %.0f req/s; %d x 200, %d x 503; latency of 200s p50 %v p90 %v p99 %v",
		requests, concurrency, r.elapsed.Seconds(), float64(requests)/r.elapsed.Seconds(), ok, r.byStatus[http.StatusServiceUnavailable],
		r.percentile(.5).Round(time.Millisecond), r.percentile(.9).Round(time.Millisecond), r.percentile(.99).Round(time.Millisecond))
	t.Logf("resident memory: %.1f MiB after the warm-up, %.1f MiB after the run (x%.2f)",
		float64(warm)/(1<<20), float64(after)/(1<<20), float64(after)/float64(warm))
	if ok+r.byStatus[http.StatusServiceUnavailable] != requests {
		t.Errorf("answers by status: %v", r.byStatus)
	}
	// 16 clients fit in the slots and the 32 places to wait: none should
	// be turned away.
	if ok < requests*99/100 {
		t.Errorf("only %d of %d requests served", ok, requests)
	}
	if float64(after) > 1.5*float64(warm) {
		t.Errorf("resident memory grew from %d to %d bytes (over 1.5x) across the run", warm, after)
	}
	if got := srv.metric(t, `anonymize_http_requests_total{code="200",endpoint="/v1/anonymize"}`); int(got) != ok+w.byStatus[http.StatusOK] {
		t.Errorf("metrics count %g answers of 200, the clients %d", got, ok+w.byStatus[http.StatusOK])
	}
	if code := srv.stop(t); code != exitOK {
		t.Errorf("exit %d", code)
	}
}
