package cli

// Tests of `anonymize serve` through a real HTTP client: the command runs
// in-process (run) on a free loopback port with the real face model, and
// the tests talk to it over TCP. A test that needs a request to stay in
// the detector wraps the detector through serveHooks (in the Env), so
// nothing waits on time.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
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

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/server"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/imageio"
)

// ---- helpers ---------------------------------------------------------------

// serveRun is `anonymize serve` running in-process until stopped.
type serveRun struct {
	url    string
	addr   string
	log    *testenv.LogBuffer
	cancel context.CancelFunc
	code   chan int
	client *http.Client
	reload chan struct{} // a request here is what SIGHUP is to main
}

// startServe starts the service on a free loopback port with args after
// `anonymize serve` and waits until it serves.
func startServe(t *testing.T, hooks *serveHooks, args ...string) *serveRun {
	t.Helper()
	if hooks == nil {
		hooks = &serveHooks{}
	}
	addr := make(chan string, 1)
	hooks.started = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(t.Context())
	r := &serveRun{log: new(testenv.LogBuffer), cancel: cancel, code: make(chan int, 1), reload: make(chan struct{}, 1),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: time.Minute}}
	go func() {
		r.code <- Run(ctx, Env{Args: append([]string{"anonymize", "serve", "--listen", "127.0.0.1:0"}, args...),
			Stdout: io.Discard, Stderr: r.log, Reload: r.reload, hooks: hooks})
	}()
	t.Cleanup(func() {
		cancel()
		r.client.CloseIdleConnections()
		r.code <- <-r.code
	})
	select {
	case a := <-addr:
		r.addr, r.url = a, "http://"+a
	case code := <-r.code:
		r.code <- code
		t.Fatalf("serve exited %d before serving:\n%s", code, r.log)
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start within 60 s:\n%s", r.log)
	}
	return r
}

// stop cancels the service (as SIGINT or SIGTERM would) and returns its
// exit code.
func (r *serveRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	r.client.CloseIdleConnections()
	select {
	case code := <-r.code:
		r.code <- code
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not stop within 60 s of being cancelled:\n%s", r.log)
		return -1
	}
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; hdr are header name, value pairs.
func (r *serveRun) do(t *testing.T, method, path string, body io.Reader, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, data}
}

func (r *serveRun) post(t *testing.T, path, contentType string, body []byte, hdr ...string) response {
	t.Helper()
	if contentType != "" {
		hdr = append(hdr, "Content-Type", contentType)
	}
	return r.do(t, http.MethodPost, path, bytes.NewReader(body), hdr...)
}

func (r *serveRun) get(t *testing.T, path string, hdr ...string) response {
	t.Helper()
	return r.do(t, http.MethodGet, path, nil, hdr...)
}

// metric returns the value of the sample named exactly by series (name
// and labels as /metrics prints them), or -1 when absent.
func (r *serveRun) metric(t *testing.T, series string, hdr ...string) float64 {
	t.Helper()
	m := r.get(t, "/metrics", hdr...)
	if m.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", m.status, m.body)
	}
	for _, l := range strings.Split(string(m.body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", series, l)
			}
			return f
		}
	}
	return -1
}

// serveConfig writes a config for the service tests: the repository's
// runtime library, the models folder and model given, CPU only, and the
// [serve] lines given.
func serveConfig(t *testing.T, modelsDir, model string, reloadWatch bool, serveLines ...string) string {
	t.Helper()
	return testConfig(t, modelsDir, model, reloadWatch, "", "[serve]\n"+strings.Join(serveLines, "\n"))
}

// defaultServeConfig runs the installed face model.
func defaultServeConfig(t *testing.T, serveLines ...string) string {
	return serveConfig(t, testenv.ModelsDir(), "yunet-n-dynamic", false, serveLines...)
}

// facePhoto is group_uf2.jpg (four faces) resized to w x h and encoded in
// the format of ext.
func facePhoto(t testing.TB, w, h int, ext string) []byte {
	t.Helper()
	src := gocv.IMRead(testenv.Shared(t, filepath.Join("data", "faces", "group_uf2.jpg")), gocv.IMReadColor)
	defer src.Close()
	if src.Empty() {
		t.Fatal("cannot read group_uf2.jpg")
	}
	dst := gocv.NewMat()
	defer dst.Close()
	gocv.Resize(src, &dst, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	data, err := imageio.Encode(dst, ext, 90)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pixelsOf decodes encoded image data.
func pixelsOf(t *testing.T, data []byte) pixels {
	t.Helper()
	m, err := imageio.Decode(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	defer m.Close()
	return pixels{w: m.Cols(), h: m.Rows(), bgr: m.ToBytes()}
}

// detectAnswer is the JSON of /v1/detect, as a client reads it.
type detectAnswer struct {
	Model struct {
		Name      string  `json:"name"`
		Version   string  `json:"version"`
		SHA256    string  `json:"sha256"`
		Threshold float32 `json:"threshold"`
	} `json:"model"`
	Image struct {
		Width, Height int
		Format        string
	} `json:"image"`
	Detections []struct {
		Box struct {
			X1, Y1, X2, Y2 float64
		} `json:"box"`
		Score float64 `json:"score"`
		Label string  `json:"label"`
		Model string  `json:"model"`
	} `json:"detections"`
	Timings map[string]float64 `json:"timings_ms"`
}

func decodeDetect(t *testing.T, r response) detectAnswer {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("detect: %d %s", r.status, r.body)
	}
	var a detectAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("detect: %v: %s", err, r.body)
	}
	return a
}

// checkAPIError checks an error answer: the status, a JSON body with an
// error message and the code.
func checkAPIError(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var e struct{ Error, Code string } // the body of every error answer
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Errorf("%s: body is not a JSON error (%v): %s", what, err, r.body)
	}
	if e.Code != code {
		t.Errorf("%s: code %q, want %q (%s)", what, e.Code, code, e.Error)
	}
	if status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
		t.Errorf("%s: 503 without Retry-After", what)
	}
}

// blockingDetector holds every detection until release is closed,
// signalling entered as each one starts.
type blockingDetector struct {
	server.Detector
	entered chan struct{}
	release chan struct{}
}

func newBlocking() (*blockingDetector, *serveHooks) {
	b := &blockingDetector{entered: make(chan struct{}, 64), release: make(chan struct{})}
	return b, &serveHooks{wrap: func(d server.Detector) server.Detector { b.Detector = d; return b }}
}

func (b *blockingDetector) DetectInfo(img gocv.Mat) ([]convert.Detection, infer.Info, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Detector.DetectInfo(img)
}

func (b *blockingDetector) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no request reached the detector within 30 s")
	}
}

// ---- endpoints ---------------------------------------------------------------

// TestServeEndpoints exercises every endpoint with good requests: health,
// readiness, detection and anonymization in every accepted format, the
// query options, the model list and the metrics.
func TestServeEndpoints(t *testing.T) {
	srv := startServe(t, nil, "--config", defaultServeConfig(t))

	for _, p := range []string{"/healthz", "/readyz"} {
		if r := srv.get(t, p); r.status != http.StatusOK || !json.Valid(r.body) {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}

	// Detect: four faces, named model, timings.
	jpeg := facePhoto(t, 640, 480, ".jpg")
	r := srv.post(t, "/v1/detect", "image/jpeg", jpeg)
	a := decodeDetect(t, r)
	if a.Model.Name != "yunet-n-dynamic" || a.Model.Version != "2023.01" || len(a.Model.SHA256) != 64 {
		t.Errorf("detect: model %+v, want yunet-n-dynamic 2023.01 with its sha256", a.Model)
	}
	if a.Image.Width != 640 || a.Image.Height != 480 || a.Image.Format != "jpeg" {
		t.Errorf("detect: image %+v", a.Image)
	}
	if len(a.Detections) != 4 {
		t.Errorf("detect: %d detections, want the photo's 4 faces: %s", len(a.Detections), r.body)
	}
	for _, d := range a.Detections {
		if d.Label != "face" || d.Model != "yunet-n-dynamic" || d.Score < 0.3 || !(d.Box.X2 > d.Box.X1 && d.Box.Y2 > d.Box.Y1) {
			t.Errorf("detect: bad detection %+v", d)
		}
	}
	if a.Timings["detect"] <= 0 || a.Timings["decode"] <= 0 || a.Timings["total"] < a.Timings["detect"] {
		t.Errorf("detect: timings %v", a.Timings)
	}
	if r.header.Get("X-Anonymize-Model") != "yunet-n-dynamic" || r.header.Get("X-Anonymize-Model-Version") != "2023.01" {
		t.Errorf("detect: model headers %v", r.header)
	}

	// Anonymize a PNG (lossless, so every pixel can be checked): solid
	// boxes over each face, nothing else changed.
	png := facePhoto(t, 640, 480, ".png")
	faces := decodeDetect(t, srv.post(t, "/v1/detect", "image/png", png))
	r = srv.post(t, "/v1/anonymize?style=solid&shape=box", "image/png", png)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" || imageio.Sniff(r.body) != imageio.PNG {
		t.Fatalf("anonymize png: %d %s %.200q", r.status, r.header.Get("Content-Type"), r.body)
	}
	var boxes [][4]float64
	for _, d := range faces.Detections {
		boxes = append(boxes, [4]float64{d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2})
	}
	checkHidden(t, pixelsOf(t, png), pixelsOf(t, r.body), boxes, 1.3)
	if r.header.Get("X-Anonymize-Model-Version") != "2023.01" || r.header.Get("X-Anonymize-Detections") != "4" {
		t.Errorf("anonymize: headers %v", r.header)
	}
	if st := r.header.Get("Server-Timing"); !strings.Contains(st, "detect;dur=") || !strings.Contains(st, "encode;dur=") {
		t.Errorf("anonymize: Server-Timing %q", st)
	}

	// Every accepted format comes back in the same format, the same size.
	// JPEG goes as curl --data-binary sends it by default
	// (application/x-www-form-urlencoded), BMP with no Content-Type.
	for _, tc := range []struct {
		ext, ctype string
		want       imageio.Format
	}{
		{".jpg", "application/x-www-form-urlencoded", imageio.JPEG},
		{".webp", "image/webp", imageio.WebP},
		{".bmp", "", imageio.BMP},
		{".tiff", "image/tiff", imageio.TIFF},
		{".png", "application/octet-stream", imageio.PNG},
	} {
		in := facePhoto(t, 320, 240, tc.ext)
		r := srv.post(t, "/v1/anonymize", tc.ctype, in)
		if r.status != http.StatusOK {
			t.Errorf("anonymize %s: %d %s", tc.ext, r.status, r.body)
			continue
		}
		if got := imageio.Sniff(r.body); got != tc.want || r.header.Get("Content-Type") != tc.want.ContentType() {
			t.Errorf("anonymize %s: answered %s as %s, want %s", tc.ext, got, r.header.Get("Content-Type"), tc.want)
		}
		if p := pixelsOf(t, r.body); p.w != 320 || p.h != 240 {
			t.Errorf("anonymize %s: %dx%d, want 320x240", tc.ext, p.w, p.h)
		}
		if n, _ := strconv.Atoi(r.header.Get("X-Anonymize-Detections")); n < 3 {
			t.Errorf("anonymize %s: %d regions hidden, want the faces", tc.ext, n)
		}
	}

	// Query options: the model by name or alias, a higher threshold.
	for _, m := range []string{"yunet-n-dynamic", "faces"} {
		if a := decodeDetect(t, srv.post(t, "/v1/detect?model="+m, "image/jpeg", jpeg)); len(a.Detections) != 4 {
			t.Errorf("model=%s: %d detections, want 4", m, len(a.Detections))
		}
	}
	high := decodeDetect(t, srv.post(t, "/v1/detect?threshold=0.8", "image/jpeg", jpeg))
	if len(high.Detections) >= 4 {
		t.Logf("threshold=0.8 kept all %d faces", len(high.Detections))
	}
	for _, d := range high.Detections {
		if d.Score < 0.8 {
			t.Errorf("threshold=0.8: a detection scoring %g", d.Score)
		}
	}
	for _, q := range []string{"style=pixelate&shape=ellipse&mask_scale=1.5", "style=solid&colour=ff8000", "style=blur"} {
		if r := srv.post(t, "/v1/anonymize?"+q, "image/jpeg", jpeg); r.status != http.StatusOK || imageio.Sniff(r.body) != imageio.JPEG {
			t.Errorf("anonymize?%s: %d %.200s", q, r.status, r.body)
		}
	}

	// Models: the active one, and every installed folder.
	r = srv.get(t, "/v1/models")
	var ms struct {
		Active    []struct{ Name, Version string }
		Installed []struct {
			Folder, Name, Version string
			Active                bool
		}
	}
	if err := json.Unmarshal(r.body, &ms); err != nil || r.status != http.StatusOK {
		t.Fatalf("models: %d %v %s", r.status, err, r.body)
	}
	if len(ms.Active) != 1 || ms.Active[0].Name != "yunet-n-dynamic" || ms.Active[0].Version != "2023.01" {
		t.Errorf("models: active %+v", ms.Active)
	}
	found := false
	for _, m := range ms.Installed {
		if m.Folder == "yunet-n-dynamic" {
			found = m.Active && m.Version == "2023.01"
		}
	}
	if !found {
		t.Errorf("models: yunet-n-dynamic not listed as installed and active: %s", r.body)
	}

	// No live source: the stream answers 404 with a JSON error.
	checkAPIError(t, "stream", srv.get(t, server.StreamPath), http.StatusNotFound, "no_live_source")

	// Metrics count what happened.
	for series, want := range map[string]float64{
		`anonymize_http_requests_total{code="200",endpoint="/v1/detect"}`:                 5,
		`anonymize_http_requests_total{code="200",endpoint="/v1/anonymize"}`:              9,
		`anonymize_http_requests_total{code="200",endpoint="/healthz"}`:                   1,
		`anonymize_http_requests_total{code="404",endpoint="/v1/stream.mjpeg"}`:           1,
		`anonymize_http_request_duration_seconds_count{code="200",endpoint="/v1/detect"}`: 5,
		`anonymize_ready`:                              1,
		`anonymize_model_reloads_total`:                0,
		`anonymize_model_reload_failures_total`:        0,
		`anonymize_images_in_progress`:                 0,
		`anonymize_images_waiting`:                     0,
		`anonymize_http_rejected_total{reason="busy"}`: -1, // none yet
	} {
		if got := srv.metric(t, series); got != want {
			t.Errorf("metric %s = %g, want %g", series, got, want)
		}
	}
	if got := srv.metric(t, `anonymize_detections_total{label="face",model="yunet-n-dynamic"}`); got < 40 {
		t.Errorf("anonymize_detections_total = %g, want every face counted", got)
	}
	m := srv.get(t, "/metrics")
	if !regexp.MustCompile(`anonymize_model_info\{model="yunet-n-dynamic",provider="cpu",sha256="[0-9a-f]{64}",version="2023.01"\} 1`).Match(m.body) {
		t.Errorf("metrics: no anonymize_model_info for the model:\n%s", m.body)
	}
	if !bytes.Contains(m.body, []byte("go_goroutines")) || !bytes.Contains(m.body, []byte("process_resident_memory_bytes")) {
		t.Errorf("metrics: no Go or process metrics")
	}

	if code := srv.stop(t); code != exitOK {
		t.Errorf("exit %d, want 0:\n%s", code, srv.log)
	}
}

// TestServeReadiness: while the models load, /healthz answers 200 and
// /readyz, the image endpoints and the model list 503; once loaded, ready.
func TestServeReadiness(t *testing.T) {
	type probe struct {
		method, path string
		r            response
		err          error
	}
	var during []probe
	jpeg := facePhoto(t, 320, 240, ".jpg")
	hooks := &serveHooks{loading: func(addr string) {
		// Runs in the service, which serves meanwhile: no t.Fatal here.
		c := &http.Client{Timeout: 30 * time.Second}
		for _, p := range []probe{{method: "GET", path: "/healthz"}, {method: "GET", path: "/readyz"},
			{method: "POST", path: "/v1/detect"}, {method: "GET", path: "/v1/models"}, {method: "GET", path: "/metrics"}} {
			var body io.Reader
			if p.method == "POST" {
				body = bytes.NewReader(jpeg)
			}
			req, _ := http.NewRequest(p.method, "http://"+addr+p.path, body)
			resp, err := c.Do(req)
			if err == nil {
				p.r.body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				p.r.status, p.r.header = resp.StatusCode, resp.Header
			}
			p.err = err
			during = append(during, p)
		}
		c.CloseIdleConnections()
	}}
	srv := startServe(t, hooks, "--config", defaultServeConfig(t))
	if len(during) != 5 {
		t.Fatalf("the loading hook made %d probes", len(during))
	}
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", srv.log)
		}
	}()
	for _, p := range during {
		switch {
		case p.err != nil:
			t.Errorf("while loading, %s %s: %v", p.method, p.path, p.err)
		case p.path == "/healthz" || p.path == "/metrics":
			if p.r.status != http.StatusOK {
				t.Errorf("while loading, %s: %d, want 200", p.path, p.r.status)
			}
		default:
			checkAPIError(t, "while loading, "+p.path, p.r, http.StatusServiceUnavailable, "not_ready")
		}
	}
	if !regexp.MustCompile(`(?m)^anonymize_ready 0$`).Match(during[4].r.body) {
		t.Errorf("while loading, anonymize_ready is not 0")
	}
	if r := srv.get(t, "/readyz"); r.status != http.StatusOK {
		t.Errorf("loaded: /readyz %d %s", r.status, r.body)
	}
	if got := srv.metric(t, "anonymize_ready"); got != 1 {
		t.Errorf("loaded: anonymize_ready %g", got)
	}
	srv.stop(t)
}

// ---- auth ----------------------------------------------------------------------

func TestServeAuth(t *testing.T) {
	const token = "0123456789abcdef-test-token"
	srv := startServe(t, nil, "--config", defaultServeConfig(t, fmt.Sprintf("token = %q", token)))
	jpeg := facePhoto(t, 320, 240, ".jpg")
	good := []string{"Authorization", "Bearer " + token}
	for _, tc := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"no token", nil, 401},
		{"wrong token", []string{"Authorization", "Bearer " + token + "x"}, 401},
		{"token without Bearer", []string{"Authorization", token}, 401},
		{"basic auth", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401},
		{"right token", good, 200},
	} {
		for _, p := range []string{"/v1/detect", "/v1/anonymize"} {
			r := srv.post(t, p, "image/jpeg", jpeg, tc.hdr...)
			if tc.status == 401 {
				checkAPIError(t, tc.name+" "+p, r, 401, "unauthorized")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: WWW-Authenticate %q", tc.name, p, r.header.Get("WWW-Authenticate"))
				}
			} else if r.status != tc.status {
				t.Errorf("%s %s: %d, want %d: %s", tc.name, p, r.status, tc.status, r.body)
			}
		}
		for _, p := range []string{"/v1/models", "/metrics", server.StreamPath} {
			r := srv.get(t, p, tc.hdr...)
			if tc.status == 401 && r.status != 401 {
				t.Errorf("%s GET %s: %d, want 401", tc.name, p, r.status)
			}
			if tc.status == 200 && r.status == 401 {
				t.Errorf("%s GET %s: 401 with the right token", tc.name, p)
			}
		}
	}
	// Health is open.
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := srv.get(t, p); r.status != http.StatusOK {
			t.Errorf("GET %s without a token: %d", p, r.status)
		}
	}
	if got := srv.metric(t, `anonymize_http_requests_total{code="401",endpoint="/v1/detect"}`, good...); got != 4 {
		t.Errorf("401s counted: %g, want 4", got)
	}
	srv.stop(t)
}

// ---- usage -----------------------------------------------------------------------

// TestServeUsageErrors: bad [serve] values and flags exit 2 naming the
// key; an address in use exits 2 before any model loads.
func TestServeUsageErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name  string
		cfg   []string
		flags []string
		want  string
	}{
		{"listen without port", []string{`listen = "localhost"`}, nil, "serve.listen"},
		{"port out of range", []string{`listen = "127.0.0.1:70000"`}, nil, "serve.listen"},
		{"max_pixels negative", []string{"max_pixels = -1"}, nil, "serve.max_pixels"},
		{"max_body_bytes 0", []string{"max_body_bytes = 0"}, nil, "serve.max_body_bytes"},
		{"queue negative", []string{"queue = -1"}, nil, "serve.queue"},
		{"timeout negative", []string{"timeout_ms = -5"}, nil, "serve.timeout_ms"},
		{"token with a space", []string{`token = "a b"`}, nil, "serve.token"},
		{"unknown key", []string{"listn = \"127.0.0.1:1\""}, nil, "serve.listn"},
		{"--listen", nil, []string{"--listen", "nope"}, "serve.listen"},
		{"--max-concurrent", nil, []string{"--max-concurrent", "-1"}, "serve.max_concurrent"},
		{"address in use", nil, []string{"--listen", busy.Addr().String()}, "address already in use"},
		{"arguments", nil, []string{"photo.jpg"}, "no arguments"},
		{"model not installed", nil, []string{"--model", "no-such-model"}, "no-such-model"},
	} {
		args := append([]string{"serve", "--config", defaultServeConfig(t, tc.cfg...)}, tc.flags...)
		code, _, stderr := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming %q", tc.name, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "msg=\"model loaded\"") {
			t.Errorf("%s: a model was loaded before the error", tc.name)
		}
	}
}

// TestServeModelAlias: with the default two face detectors running,
// model=faces keeps the regions of both. messi5.jpg's faces are all
// credited to yunet-s-640 (the higher score where both find a face), so a
// request naming the alias must not drop them as "another model's".
func TestServeModelAlias(t *testing.T) {
	srv := startServe(t, nil, "--config", serveConfig(t, testenv.ModelsDir(), "faces", false))
	photo, err := os.ReadFile(testenv.Shared(t, "data/faces/messi5.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	all := decodeDetect(t, srv.post(t, "/v1/detect", "image/jpeg", photo))
	if len(all.Detections) == 0 {
		t.Fatal("no faces found in messi5.jpg")
	}
	named := decodeDetect(t, srv.post(t, "/v1/detect?model=faces", "image/jpeg", photo))
	if len(named.Detections) != len(all.Detections) || named.Model.Name != "yunet-n-dynamic+yunet-s-640-opencvzoo-2023mar" {
		t.Errorf("model=faces: %d regions by %q, want the %d of both models", len(named.Detections), named.Model.Name, len(all.Detections))
	}
	r := srv.post(t, "/v1/anonymize?model=faces", "image/jpeg", photo)
	if r.status != http.StatusOK || r.header.Get("X-Anonymize-Detections") != strconv.Itoa(len(all.Detections)) {
		t.Errorf("anonymize model=faces: %d, %s regions hidden, want %d", r.status, r.header.Get("X-Anonymize-Detections"), len(all.Detections))
	}
	one := decodeDetect(t, srv.post(t, "/v1/detect?model=yunet-s-640-opencvzoo-2023mar", "image/jpeg", photo))
	if one.Model.Name != "yunet-s-640-opencvzoo-2023mar" || len(one.Detections) == 0 {
		t.Errorf("model=yunet-s-640-opencvzoo-2023mar: %d regions by %q", len(one.Detections), one.Model.Name)
	}
}
