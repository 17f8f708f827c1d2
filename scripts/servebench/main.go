// Command servebench measures `anonymize serve`: it sends one image to an
// endpoint from a number of clients at once for a fixed time and prints
// requests per second and latency percentiles, as a Markdown table row.
// scripts/bench_serve.sh runs it; see docs/BENCHMARKS.md ("Service").
//
//	go run ./scripts/servebench -url http://127.0.0.1:8080/v1/anonymize -file photo.jpg -c 4
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/v1/anonymize", "endpoint to POST the image to")
	file := flag.String("file", "", "the image `FILE` to send (JPEG)")
	conc := flag.Int("c", 1, "clients sending at once")
	dur := flag.Duration("d", 10*time.Second, "how long to measure (after the warm-up)")
	warm := flag.Int("warmup", 10, "requests per client before measuring")
	token := flag.String("token", "", "bearer token (serve.token)")
	label := flag.String("label", "", "first column of the row (default: the file name)")
	flag.Parse()
	if err := run(*url, *file, *conc, *dur, *warm, *token, *label); err != nil {
		fmt.Fprintln(os.Stderr, "servebench:", err)
		os.Exit(1)
	}
}

type sample struct {
	status int
	d      time.Duration
	err    error
}

func run(url, file string, conc int, dur time.Duration, warm int, token, label string) error {
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if label == "" {
		label = filepath.Base(file)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}, Timeout: time.Minute}
	send := func() sample {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return sample{err: err}
		}
		req.Header.Set("Content-Type", "image/jpeg")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return sample{err: err}
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return sample{status: resp.StatusCode, d: time.Since(t0), err: err}
	}
	// Warm-up: every client's connection open, the server's buffers grown.
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range warm {
				send()
			}
		}()
	}
	wg.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var mu sync.Mutex
	var all []sample
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				s := send()
				mu.Lock()
				all = append(all, s)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var lat []time.Duration
	var busy, failed int
	var firstErr string
	for _, s := range all {
		switch {
		case s.err == nil && s.status == http.StatusOK:
			lat = append(lat, s.d)
		case s.err == nil && s.status == http.StatusServiceUnavailable:
			busy++
		default:
			failed++
			if firstErr == "" {
				firstErr = fmt.Sprintf("status %d, %v", s.status, s.err)
			}
		}
	}
	if len(lat) == 0 {
		return fmt.Errorf("no request succeeded (%d answered 503, %d failed: %s)", busy, failed, firstErr)
	}
	slices.Sort(lat)
	pct := func(p float64) string {
		d := lat[min(len(lat)-1, int(p*float64(len(lat))))]
		return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000)
	}
	fmt.Printf("| %s | %d | %.1f | %s | %s | %s | %d | %d |\n", label, conc, float64(len(lat))/elapsed.Seconds(),
		pct(.5), pct(.9), pct(.99), busy, failed)
	if failed > 0 {
		return fmt.Errorf("%d requests failed, first: %s", failed, firstErr)
	}
	return nil
}
