package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/server"
	"github.com/anonymize/anonymize/internal/testenv"
	"gocv.io/x/gocv"
)

// ---- reload ----------------------------------------------------------------------

// copyFaceModel copies the face model into modelsDir and returns a func
// that replaces its model.toml, atomically, with the original's text with
// old replaced by new.
func copyFaceModel(t *testing.T, modelsDir string) (replaceManifest func(old, new string)) {
	t.Helper()
	dir := filepath.Join(modelsDir, "yunet-n-dynamic")
	src := testenv.Model(t, "yunet-n-dynamic")
	for _, f := range []string{"model.onnx", "model.toml"} {
		copyFile(t, filepath.Join(src, f), filepath.Join(dir, f))
	}
	manifest, err := os.ReadFile(filepath.Join(dir, "model.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return func(old, new string) {
		t.Helper()
		if !bytes.Contains(manifest, []byte(old)) {
			t.Fatalf("model.toml has no %q", old)
		}
		tmp := filepath.Join(dir, ".model.toml.tmp")
		writeFile(t, tmp, bytes.Replace(manifest, []byte(old), []byte(new), 1))
		if err := os.Rename(tmp, filepath.Join(dir, "model.toml")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeReloadDuringRequests changes the model on disk (its version in
// model.toml) while four clients send requests: every response is 200 and
// names the version that served it, and every request sent after the
// swap names the new one. A broken model.toml after that is refused and
// counted; the running model goes on.
func TestServeReloadDuringRequests(t *testing.T) {
	modelsDir := t.TempDir()
	replaceManifest := copyFaceModel(t, modelsDir)
	srv := startServe(t, nil, "--config", serveConfig(t, modelsDir, "yunet-n-dynamic", true, "max_concurrent = 2"))
	jpeg := facePhoto(t, 320, 240, ".jpg")

	type outcome struct {
		sent    time.Time
		status  int
		version string
		body    string
	}
	var (
		mu       sync.Mutex
		outs     []outcome
		swapSeen time.Time // zero until the swap is logged
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		// answered gets one value per answer to a request sent before the
		// swap was seen, fresh per answer to one sent after it.
		answered = make(chan struct{}, 4096)
		fresh    = make(chan struct{}, 4096)
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				req, _ := http.NewRequest(http.MethodPost, srv.url+"/v1/anonymize", bytes.NewReader(jpeg))
				req.Header.Set("Content-Type", "image/jpeg")
				o := outcome{sent: sent}
				if resp, err := srv.client.Do(req); err != nil {
					o.body = err.Error()
				} else {
					data, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					o.status, o.version = resp.StatusCode, resp.Header.Get("X-Anonymize-Model-Version")
					if o.status != http.StatusOK {
						o.body = string(data)
					}
				}
				mu.Lock()
				outs = append(outs, o)
				ch := answered
				if !swapSeen.IsZero() && sent.After(swapSeen) {
					ch = fresh
				}
				mu.Unlock()
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}()
	}
	// wait waits for n values on ch.
	wait := func(ch chan struct{}, n int) {
		t.Helper()
		for range n {
			select {
			case <-ch:
			case <-time.After(30 * time.Second):
				t.Fatal("requests stopped coming back")
			}
		}
	}
	wait(answered, 20)
	replaceManifest(`version = "2023.01"`, `version = "2023.01-r2"`)
	srv.log.WaitFor(t, `msg="model swapped in" model=yunet-n-dynamic version=2023.01-r2`, 30*time.Second)
	mu.Lock()
	swapSeen = time.Now()
	mu.Unlock()
	wait(fresh, 20)
	close(stop)
	wg.Wait()

	var before, after, afterSwap int
	for _, o := range outs {
		switch {
		case o.status != http.StatusOK:
			t.Errorf("a request during the reload: %d %s", o.status, o.body)
		case o.version == "2023.01":
			before++
			if o.sent.After(swapSeen) {
				t.Errorf("a request sent after the swap was served by the old version")
			}
		case o.version == "2023.01-r2":
			after++
			if o.sent.After(swapSeen) {
				afterSwap++
			}
		default:
			t.Errorf("a response names version %q", o.version)
		}
	}
	t.Logf("%d requests: %d on the old version, %d on the new (%d sent after the swap)", len(outs), before, after, afterSwap)
	if before == 0 || afterSwap == 0 {
		t.Errorf("want requests on both versions: %d old, %d new after the swap", before, afterSwap)
	}
	// The metrics follow the set's events, which come just after the log.
	testenv.WaitFor(t, 10*time.Second, "the reload to be counted", func() bool { return srv.metric(t, "anonymize_model_reloads_total") == 1 }, nil)
	m := srv.get(t, "/metrics")
	if !bytes.Contains(m.body, []byte(`version="2023.01-r2"} 1`)) || bytes.Contains(m.body, []byte(`version="2023.01"} 1`)) {
		t.Errorf("anonymize_model_info does not name the new version alone:\n%s", m.body)
	}

	// A broken manifest: refused, counted, and the running model stays.
	replaceManifest(`adapter = "yunet"`, `adapter = "no-such-adapter"`)
	srv.log.WaitFor(t, `msg="model not loaded; the running one stays"`, 30*time.Second)
	testenv.WaitFor(t, 10*time.Second, "the failed reload to be counted", func() bool {
		return srv.metric(t, "anonymize_model_reload_failures_total") == 1
	}, nil)
	r := srv.post(t, "/v1/anonymize", "image/jpeg", jpeg)
	if r.status != http.StatusOK || r.header.Get("X-Anonymize-Model-Version") != "2023.01-r2" {
		t.Errorf("after a failed reload: %d, version %q", r.status, r.header.Get("X-Anonymize-Model-Version"))
	}
	if code := srv.stop(t); code != exitOK {
		t.Errorf("exit %d:\n%s", code, srv.log)
	}
}

// TestServeReloadSIGHUP: with reload.watch off, a changed model is
// picked up on SIGHUP.
func TestServeReloadSIGHUP(t *testing.T) {
	modelsDir := t.TempDir()
	replaceManifest := copyFaceModel(t, modelsDir)
	srv := startServe(t, nil, "--config", serveConfig(t, modelsDir, "yunet-n-dynamic", false))
	jpeg := facePhoto(t, 320, 240, ".jpg")
	replaceManifest(`version = "2023.01"`, `version = "2023.01-hup"`)
	if r := srv.post(t, "/v1/detect", "image/jpeg", jpeg); r.header.Get("X-Anonymize-Model-Version") != "2023.01" {
		t.Fatalf("before SIGHUP: version %q, want 2023.01 (reload.watch is off)", r.header.Get("X-Anonymize-Model-Version"))
	}
	srv.reload <- struct{}{}
	srv.log.WaitFor(t, `msg="model swapped in" model=yunet-n-dynamic version=2023.01-hup`, 30*time.Second)
	a := decodeDetect(t, srv.post(t, "/v1/detect", "image/jpeg", jpeg))
	if a.Model.Version != "2023.01-hup" || len(a.Detections) == 0 {
		t.Errorf("after SIGHUP: version %q with %d detections", a.Model.Version, len(a.Detections))
	}
	// The metrics follow the set's events, which come just after the log.
	testenv.WaitFor(t, 10*time.Second, "the reload to be counted", func() bool { return srv.metric(t, "anonymize_model_reloads_total") == 1 }, nil)
	srv.stop(t)
}

// TestServeAdoptsBeside: a face model dropped into a running service's
// models folder runs beside the two default face detectors, not in their
// place (one such model replaced both: recall fell from 0.96 to about 0.69),
// and one log line names the models running before and after.
func TestServeAdoptsBeside(t *testing.T) {
	modelsDir := t.TempDir()
	for _, name := range []string{"yunet-n-dynamic", "yunet-s-640-opencvzoo-2023mar"} {
		for _, f := range []string{"model.onnx", "model.toml"} {
			copyFile(t, filepath.Join(testenv.Model(t, name), f), filepath.Join(modelsDir, name, f))
		}
	}
	srv := startServe(t, nil, "--config", serveConfig(t, modelsDir, "faces", true))
	onnx := testenv.Shared(t, filepath.Join("models", "ultraface-rfb-320", "model.onnx"))
	if code, _, stderr := runCLI(t, "models", "install", "ultraface-rfb-320", "--file", onnx, "--models-dir", modelsDir); code != exitOK {
		t.Fatalf("models install: exit %d: %s", code, stderr)
	}
	srv.log.WaitFor(t, `msg="model swapped in" model=ultraface-rfb-320`, 60*time.Second)
	srv.log.WaitFor(t, `msg="models running" before=yunet-n-dynamic@2023.01+yunet-s-640-opencvzoo-2023mar@`, 10*time.Second)
	var ms struct{ Active []struct{ Name string } }
	if err := json.Unmarshal(srv.get(t, "/v1/models").body, &ms); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms.Active {
		names = append(names, m.Name)
	}
	want := []string{"yunet-n-dynamic", "yunet-s-640-opencvzoo-2023mar", "ultraface-rfb-320"}
	if !slices.Equal(names, want) {
		t.Errorf("running %q after the new face model, want %q", names, want)
	}
	if strings.Contains(srv.log.String(), "model removed") {
		t.Errorf("a model was removed by the adoption:\n%s", srv.log)
	}
}

// renamedDetector answers as if the models had been reloaded under new
// names while the request was in the detector.
type renamedDetector struct{ server.Detector }

func (r renamedDetector) DetectInfo(img gocv.Mat) ([]convert.Detection, infer.Info, error) {
	dets, info, err := r.Detector.DetectInfo(img)
	for i := range dets {
		dets[i].Model = "renamed"
	}
	info.Name, info.Dir, info.Models = "renamed", "/models/renamed", nil
	return dets, info, err
}

// TestServeModelReloadedAway: a request that names a model (?model=) which
// the models that ran no longer include, after a reload, is answered 503
// models_changed, never 200 with its detections all dropped (the image
// unhidden).
func TestServeModelReloadedAway(t *testing.T) {
	hooks := &serveHooks{wrap: func(d server.Detector) server.Detector { return renamedDetector{d} }}
	srv := startServe(t, hooks, "--config", defaultServeConfig(t))
	r := srv.post(t, "/v1/anonymize?model=yunet-n-dynamic", "image/jpeg", facePhoto(t, 320, 240, ".jpg"))
	checkAPIError(t, "model reloaded away", r, http.StatusServiceUnavailable, "models_changed")
}
