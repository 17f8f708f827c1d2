package main

// Tests of `anonymize serve` through a real HTTP client: the command runs
// in-process (run) on a free loopback port with the real face model, and
// the tests talk to it over TCP. A test that needs a request to stay in
// the detector wraps the detector through serveHooks (in the context), so
// nothing waits on time.

import (
	"bytes"
	"context"
	"encoding/binary"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/anonymize/anonymize/convert"
	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/imageio"
)

// ---- helpers ---------------------------------------------------------------

// serveRun is `anonymize serve` running in-process until stopped.
type serveRun struct {
	url    string
	addr   string
	log    *logBuffer
	cancel context.CancelFunc
	code   chan int
	client *http.Client
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
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), serveHooksKey{}, hooks))
	r := &serveRun{log: newLogBuffer(), cancel: cancel, code: make(chan int, 1),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: time.Minute}}
	go func() {
		r.code <- run(ctx, append([]string{"anonymize", "serve", "--listen", "127.0.0.1:0"}, args...), io.Discard, r.log)
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
	repo, err := loadConfig(repoConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, path, fmt.Appendf(nil, `models_dir = %q
model = %q

[runtime]
library = %q
providers = ["cpu"]

[reload]
watch = %v
debounce_ms = 100

[serve]
%s
`, modelsDir, model, repo.Runtime.Library, reloadWatch, strings.Join(serveLines, "\n")))
	return path
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
	var e apiError
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
	serveDetector
	entered chan struct{}
	release chan struct{}
}

func newBlocking() (*blockingDetector, *serveHooks) {
	b := &blockingDetector{entered: make(chan struct{}, 64), release: make(chan struct{})}
	return b, &serveHooks{wrap: func(d serveDetector) serveDetector { b.serveDetector = d; return b }}
}

func (b *blockingDetector) DetectInfo(img gocv.Mat) ([]convert.Detection, infer.Info, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.serveDetector.DetectInfo(img)
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
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" || sniffFormat(r.body) != formatPNG {
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
		want       imageFormat
	}{
		{".jpg", "application/x-www-form-urlencoded", formatJPEG},
		{".webp", "image/webp", formatWebP},
		{".bmp", "", formatBMP},
		{".tiff", "image/tiff", formatTIFF},
		{".png", "application/octet-stream", formatPNG},
	} {
		in := facePhoto(t, 320, 240, tc.ext)
		r := srv.post(t, "/v1/anonymize", tc.ctype, in)
		if r.status != http.StatusOK {
			t.Errorf("anonymize %s: %d %s", tc.ext, r.status, r.body)
			continue
		}
		if got := sniffFormat(r.body); got != tc.want || r.header.Get("Content-Type") != tc.want.contentType() {
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
		if r := srv.post(t, "/v1/anonymize?"+q, "image/jpeg", jpeg); r.status != http.StatusOK || sniffFormat(r.body) != formatJPEG {
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
	checkAPIError(t, "stream", srv.get(t, serveStreamPath), http.StatusNotFound, "no_live_source")

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

// ---- bad input -----------------------------------------------------------------

// Crafted headers: tiny files that declare a huge image.
func jpegHeader(w, h int) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, 0xFF, 0xC0, 0, 17, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	return append(b, 0xFF, 0xD9)
}

func pngHeader(w, h int) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
	b = binary.BigEndian.AppendUint32(b, uint32(w))
	b = binary.BigEndian.AppendUint32(b, uint32(h))
	return append(b, 8, 2, 0, 0, 0, 0, 0, 0, 0)
}

func webpHeader(w, h int) []byte {
	b := []byte("RIFF\x16\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	w, h = w-1, h-1
	return append(b, byte(w), byte(w>>8), byte(w>>16), byte(h), byte(h>>8), byte(h>>16))
}

func bmpHeader(w, h int) []byte {
	b := make([]byte, 54)
	copy(b, "BM")
	binary.LittleEndian.PutUint32(b[10:], 54)
	binary.LittleEndian.PutUint32(b[14:], 40)
	binary.LittleEndian.PutUint32(b[18:], uint32(w))
	binary.LittleEndian.PutUint32(b[22:], uint32(h))
	binary.LittleEndian.PutUint16(b[26:], 1)
	binary.LittleEndian.PutUint16(b[28:], 24)
	return b
}

func tiffHeader(w, h int) []byte {
	b := []byte("II*\x00\x08\x00\x00\x00\x02\x00")
	for _, e := range [][2]int{{256, w}, {257, h}} {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, 4)
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint32(b, uint32(e[1]))
	}
	return append(b, 0, 0, 0, 0)
}

// TestServeHeaderSizes reads the size of real files of every format, as
// the encoder wrote them, and of the crafted headers.
func TestServeHeaderSizes(t *testing.T) {
	for _, ext := range []string{".jpg", ".png", ".webp", ".bmp", ".tiff"} {
		data := facePhoto(t, 321, 203, ext)
		f := sniffFormat(data)
		w, h, err := imageSize(f, data)
		if f == "" || err != nil || w != 321 || h != 203 {
			t.Errorf("%s: format %q, %dx%d, %v; want 321x203", ext, f, w, h, err)
		}
	}
	for name, data := range map[string][]byte{
		"jpeg": jpegHeader(60000, 50000), "png": pngHeader(60000, 50000), "webp": webpHeader(60000, 50000),
		"bmp": bmpHeader(60000, 50000), "tiff": tiffHeader(60000, 50000),
	} {
		w, h, err := imageSize(sniffFormat(data), data)
		if err != nil || w != 60000 || h != 50000 {
			t.Errorf("crafted %s: %dx%d, %v; want 60000x50000", name, w, h, err)
		}
		// Every prefix is refused or measured, never a panic.
		for n := range data {
			if f := sniffFormat(data[:n]); f != "" {
				imageSize(f, data[:n])
			}
		}
	}
}

// chunked hides a body's length, so that it is sent chunked.
type chunked struct{ io.Reader }

// TestServeBadInput sends every kind of bad request: each gets a 4xx
// with a JSON error naming it, never a 500, and the service goes on.
func TestServeBadInput(t *testing.T) {
	srv := startServe(t, nil, "--config", defaultServeConfig(t, "max_body_bytes = 1048576", "max_pixels = 4000000"))
	jpeg := facePhoto(t, 320, 240, ".jpg")
	png := facePhoto(t, 320, 240, ".png")
	corruptPNG := bytes.Clone(png)
	for i := len(corruptPNG) / 2; i < len(corruptPNG)/2+64; i++ {
		corruptPNG[i] ^= 0x5A
	}
	big := make([]byte, 1048577)
	copy(big, jpeg)

	for _, tc := range []struct {
		name, method, path, ctype string
		body                      io.Reader
		hdr                       []string
		status                    int
		code                      string
	}{
		{"empty body", "POST", "/v1/anonymize", "image/jpeg", bytes.NewReader(nil), nil, 400, "empty"},
		{"empty body, detect", "POST", "/v1/detect", "", bytes.NewReader(nil), nil, 400, "empty"},
		{"text", "POST", "/v1/anonymize", "application/octet-stream", strings.NewReader("hello, world"), nil, 415, "unsupported_media_type"},
		{"text, no content type", "POST", "/v1/detect", "", strings.NewReader("hello, world"), nil, 415, "unsupported_media_type"},
		{"JPEG sent as text/plain", "POST", "/v1/anonymize", "text/plain", bytes.NewReader(jpeg), nil, 415, "unsupported_media_type"},
		{"JPEG sent as JSON", "POST", "/v1/detect", "application/json", bytes.NewReader(jpeg), nil, 415, "unsupported_media_type"},
		{"a form", "POST", "/v1/anonymize", "multipart/form-data; boundary=x", bytes.NewReader(jpeg), nil, 415, "unsupported_media_type"},
		{"GIF", "POST", "/v1/anonymize", "image/gif", strings.NewReader("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), nil, 415, "unsupported_media_type"},
		{"GIF, no content type", "POST", "/v1/anonymize", "", strings.NewReader("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), nil, 415, "unsupported_media_type"},
		{"JPEG sent as PNG", "POST", "/v1/anonymize", "image/png", bytes.NewReader(jpeg), nil, 415, "unsupported_media_type"},
		{"bad Content-Type", "POST", "/v1/anonymize", "image/", bytes.NewReader(jpeg), nil, 415, "unsupported_media_type"},
		{"gzip", "POST", "/v1/anonymize", "image/jpeg", bytes.NewReader(jpeg), []string{"Content-Encoding", "gzip"}, 415, "unsupported_media_type"},
		{"truncated JPEG", "POST", "/v1/anonymize", "image/jpeg", bytes.NewReader(jpeg[:len(jpeg)/2]), nil, 400, "corrupt"},
		{"JPEG header only", "POST", "/v1/anonymize", "image/jpeg", bytes.NewReader(jpeg[:20]), nil, 400, "corrupt"},
		{"corrupt PNG", "POST", "/v1/anonymize", "image/png", bytes.NewReader(corruptPNG), nil, 400, "corrupt"},
		{"PNG of 0 pixels", "POST", "/v1/detect", "image/png", bytes.NewReader(pngHeader(0, 10)), nil, 400, "corrupt"},
		{"JPEG bomb", "POST", "/v1/anonymize", "image/jpeg", bytes.NewReader(jpegHeader(60000, 50000)), nil, 413, "too_many_pixels"},
		{"PNG bomb", "POST", "/v1/anonymize", "image/png", bytes.NewReader(pngHeader(100000, 100000)), nil, 413, "too_many_pixels"},
		{"WebP bomb", "POST", "/v1/detect", "image/webp", bytes.NewReader(webpHeader(16384, 16384)), nil, 413, "too_many_pixels"},
		{"BMP bomb", "POST", "/v1/anonymize", "image/bmp", bytes.NewReader(bmpHeader(40000, 40000)), nil, 413, "too_many_pixels"},
		{"TIFF bomb", "POST", "/v1/anonymize", "image/tiff", bytes.NewReader(tiffHeader(50000, 50000)), nil, 413, "too_many_pixels"},
		{"body over the limit", "POST", "/v1/anonymize", "image/jpeg", bytes.NewReader(big), nil, 413, "too_large"},
		{"chunked body over the limit", "POST", "/v1/anonymize", "image/jpeg", chunked{bytes.NewReader(big)}, nil, 413, "too_large"},
		{"unknown style", "POST", "/v1/anonymize?style=smudge", "image/jpeg", bytes.NewReader(jpeg), nil, 400, "bad_query"},
		{"threshold over 1", "POST", "/v1/detect?threshold=2", "image/jpeg", bytes.NewReader(jpeg), nil, 400, "bad_query"},
		{"threshold below the model's", "POST", "/v1/detect?threshold=0.1", "image/jpeg", bytes.NewReader(jpeg), nil, 400, "bad_query"},
		{"model not running", "POST", "/v1/detect?model=blazeface-front-128", "image/jpeg", bytes.NewReader(jpeg), nil, 400, "bad_query"},
		{"unknown parameter", "POST", "/v1/anonymize?quality=5", "image/jpeg", bytes.NewReader(jpeg), nil, 400, "bad_query"},
		{"mask_scale 0", "POST", "/v1/anonymize?mask_scale=0", "image/jpeg", bytes.NewReader(jpeg), nil, 400, "bad_query"},
		{"colour by name", "POST", "/v1/anonymize?colour=red", "image/jpeg", bytes.NewReader(jpeg), nil, 400, "bad_query"},
		{"style twice", "POST", "/v1/anonymize?style=blur&style=solid", "image/jpeg", bytes.NewReader(jpeg), nil, 400, "bad_query"},
		{"GET an image endpoint", "GET", "/v1/anonymize", "", nil, nil, 405, "method_not_allowed"},
		{"POST the models", "POST", "/v1/models", "image/jpeg", bytes.NewReader(jpeg), nil, 405, "method_not_allowed"},
		{"unknown path", "GET", "/v2/anonymize", "", nil, nil, 404, "not_found"},
		{"root", "GET", "/", "", nil, nil, 404, "not_found"},
	} {
		hdr := tc.hdr
		if tc.ctype != "" {
			hdr = append(hdr, "Content-Type", tc.ctype)
		}
		r := srv.do(t, tc.method, tc.path, tc.body, hdr...)
		checkAPIError(t, tc.name, r, tc.status, tc.code)
		if tc.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", tc.name)
		}
	}

	// Still serving, and nothing counted as a server error.
	if r := srv.post(t, "/v1/detect", "image/jpeg", jpeg); r.status != http.StatusOK {
		t.Errorf("after the bad input: %d %s", r.status, r.body)
	}
	m := srv.get(t, "/metrics")
	if regexp.MustCompile(`anonymize_http_requests_total\{code="5`).Match(m.body) {
		t.Errorf("a bad request was answered 5xx:\n%s", m.body)
	}
	if code := srv.stop(t); code != exitOK {
		t.Errorf("exit %d:\n%s", code, srv.log)
	}
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
		for _, p := range []string{"/v1/models", "/metrics", serveStreamPath} {
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

// ---- limits ----------------------------------------------------------------------

// TestServeSaturation fills the one processing slot (max_concurrent 1,
// queue 0) with a request held in the detector: the next gets 503 with
// Retry-After at once; once released, the first completes.
func TestServeSaturation(t *testing.T) {
	jpeg := facePhoto(t, 320, 240, ".jpg")
	t.Run("busy", func(t *testing.T) {
		b, hooks := newBlocking()
		srv := startServe(t, hooks, "--config", defaultServeConfig(t, "max_concurrent = 1", "queue = 0"))
		first := make(chan response, 1)
		go func() { first <- srv.post(t, "/v1/detect", "image/jpeg", jpeg) }()
		b.waitEntered(t)
		for _, p := range []string{"/v1/detect", "/v1/anonymize"} {
			checkAPIError(t, "second request "+p, srv.post(t, p, "image/jpeg", jpeg), http.StatusServiceUnavailable, "busy")
		}
		if r := srv.get(t, "/readyz"); r.status != http.StatusOK {
			t.Errorf("readyz while saturated: %d", r.status)
		}
		if got := srv.metric(t, `anonymize_images_in_progress`); got != 1 {
			t.Errorf("in progress: %g, want 1", got)
		}
		close(b.release)
		if r := <-first; r.status != http.StatusOK {
			t.Errorf("first request: %d %s", r.status, r.body)
		}
		if got := srv.metric(t, `anonymize_http_rejected_total{reason="busy"}`); got != 2 {
			t.Errorf("rejected busy: %g, want 2", got)
		}
		if got := srv.metric(t, `anonymize_http_requests_total{code="503",endpoint="/v1/detect"}`); got != 1 {
			t.Errorf("503s on /v1/detect: %g, want 1", got)
		}
		if r := srv.post(t, "/v1/detect", "image/jpeg", jpeg); r.status != http.StatusOK {
			t.Errorf("after release: %d %s", r.status, r.body)
		}
		srv.stop(t)
	})

	// A request not done within timeout_ms gets 503 at its deadline, while
	// its worker still holds the slot; one waiting behind it times out too.
	t.Run("timeout", func(t *testing.T) {
		b, hooks := newBlocking()
		srv := startServe(t, hooks, "--config", defaultServeConfig(t, "max_concurrent = 1", "queue = 1", "timeout_ms = 300"))
		checkAPIError(t, "held in the detector", srv.post(t, "/v1/detect", "image/jpeg", jpeg), http.StatusServiceUnavailable, "timeout")
		b.waitEntered(t)
		r := srv.post(t, "/v1/anonymize", "image/jpeg", jpeg)
		checkAPIError(t, "waiting behind it", r, http.StatusServiceUnavailable, "timeout")
		if !strings.Contains(string(r.body), "waiting") {
			t.Errorf("the second should time out waiting for a turn: %s", r.body)
		}
		close(b.release)
		// The held worker finishes and frees the slot.
		waitCond(t, 30*time.Second, "the slot to be freed", func() bool { return srv.metric(t, "anonymize_images_in_progress") == 0 })
		if r := srv.post(t, "/v1/detect", "image/jpeg", jpeg); r.status != http.StatusOK {
			t.Errorf("after release: %d %s", r.status, r.body)
		}
		if got := srv.metric(t, `anonymize_http_rejected_total{reason="timeout"}`); got != 2 {
			t.Errorf("rejected for timeout: %g, want 2", got)
		}
		srv.stop(t)
	})
}

// waitCond polls cond (for state only observable from outside) until it
// holds.
func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %v", what, d)
		}
		<-tick.C
	}
}

// TestServeShutdownDrains stops the service while a request is held in
// the detector: new connections are refused at once, the request in
// flight completes with 200, and the command exits 0.
func TestServeShutdownDrains(t *testing.T) {
	b, hooks := newBlocking()
	closed := make(chan struct{})
	hooks.shutdown = func() { close(closed) }
	srv := startServe(t, hooks, "--config", defaultServeConfig(t, "max_concurrent = 1"))
	png := facePhoto(t, 320, 240, ".png")
	inFlight := make(chan response, 1)
	go func() { inFlight <- srv.post(t, "/v1/anonymize?style=solid", "image/png", png) }()
	b.waitEntered(t)

	srv.cancel() // SIGINT / SIGTERM
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("shutdown did not begin within 30 s")
	}
	if c, err := net.DialTimeout("tcp", srv.addr, 5*time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted while draining")
	}
	select {
	case code := <-srv.code:
		t.Fatalf("exited %d with a request in flight", code)
	default:
	}

	close(b.release)
	r := <-inFlight
	if r.status != http.StatusOK || sniffFormat(r.body) != formatPNG || r.header.Get("X-Anonymize-Model-Version") != "2023.01" {
		t.Fatalf("the request in flight: %d %v %.200q", r.status, r.header, r.body)
	}
	if p := pixelsOf(t, r.body); p.w != 320 || p.h != 240 {
		t.Errorf("the request in flight: %dx%d image", p.w, p.h)
	}
	if code := srv.stop(t); code != exitOK {
		t.Errorf("exit %d, want 0:\n%s", code, srv.log)
	}
	if !strings.Contains(srv.log.String(), "msg=stopped requests=1") {
		t.Errorf("no stop line counting the request:\n%s", srv.log)
	}
}

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
	srv.log.waitFor(t, `msg="model swapped in" model=yunet-n-dynamic version=2023.01-r2`, 30*time.Second)
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
	waitCond(t, 10*time.Second, "the reload to be counted", func() bool { return srv.metric(t, "anonymize_model_reloads_total") == 1 })
	m := srv.get(t, "/metrics")
	if !bytes.Contains(m.body, []byte(`version="2023.01-r2"} 1`)) || bytes.Contains(m.body, []byte(`version="2023.01"} 1`)) {
		t.Errorf("anonymize_model_info does not name the new version alone:\n%s", m.body)
	}

	// A broken manifest: refused, counted, and the running model stays.
	replaceManifest(`adapter = "yunet"`, `adapter = "no-such-adapter"`)
	srv.log.waitFor(t, `msg="model not loaded; the running one stays"`, 30*time.Second)
	waitCond(t, 10*time.Second, "the failed reload to be counted", func() bool {
		return srv.metric(t, "anonymize_model_reload_failures_total") == 1
	})
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
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	srv.log.waitFor(t, `msg="model swapped in" model=yunet-n-dynamic version=2023.01-hup`, 30*time.Second)
	a := decodeDetect(t, srv.post(t, "/v1/detect", "image/jpeg", jpeg))
	if a.Model.Version != "2023.01-hup" || len(a.Detections) == 0 {
		t.Errorf("after SIGHUP: version %q with %d detections", a.Model.Version, len(a.Detections))
	}
	// The metrics follow the set's events, which come just after the log.
	waitCond(t, 10*time.Second, "the reload to be counted", func() bool { return srv.metric(t, "anonymize_model_reloads_total") == 1 })
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
		{"max_pixels 0", []string{"max_pixels = 0"}, nil, "serve.max_pixels"},
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
