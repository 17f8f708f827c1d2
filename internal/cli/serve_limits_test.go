package cli

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/video/imageio"
)

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
		f := imageio.Sniff(data)
		w, h, err := imageio.Size(f, data)
		if f == "" || err != nil || w != 321 || h != 203 {
			t.Errorf("%s: format %q, %dx%d, %v; want 321x203", ext, f, w, h, err)
		}
	}
	for name, data := range map[string][]byte{
		"jpeg": jpegHeader(60000, 50000), "png": pngHeader(60000, 50000), "webp": webpHeader(60000, 50000),
		"bmp": bmpHeader(60000, 50000), "tiff": tiffHeader(60000, 50000),
	} {
		w, h, err := imageio.Size(imageio.Sniff(data), data)
		if err != nil || w != 60000 || h != 50000 {
			t.Errorf("crafted %s: %dx%d, %v; want 60000x50000", name, w, h, err)
		}
		// Every prefix is refused or measured, never a panic.
		for n := range data {
			if f := imageio.Sniff(data[:n]); f != "" {
				imageio.Size(f, data[:n])
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
		testenv.WaitFor(t, 30*time.Second, "the slot to be freed", func() bool { return srv.metric(t, "anonymize_images_in_progress") == 0 }, nil)
		if r := srv.post(t, "/v1/detect", "image/jpeg", jpeg); r.status != http.StatusOK {
			t.Errorf("after release: %d %s", r.status, r.body)
		}
		if got := srv.metric(t, `anonymize_http_rejected_total{reason="timeout"}`); got != 2 {
			t.Errorf("rejected for timeout: %g, want 2", got)
		}
		srv.stop(t)
	})
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
	if r.status != http.StatusOK || imageio.Sniff(r.body) != imageio.PNG || r.header.Get("X-Anonymize-Model-Version") != "2023.01" {
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

// TestServeSlowUploads: clients that send their bodies a byte at a time
// hold upload slots, not processing places: with room to process one image
// and none to wait, an ordinary request is still served while they crawl,
// and each slow one is cut off at serve.body_timeout_ms with 408. (Before,
// an upload held its admission: 40 such clients made every other request
// get 503.)
func TestServeSlowUploads(t *testing.T) {
	srv := startServe(t, nil, "--config", defaultServeConfig(t, "max_concurrent = 1", "queue = 0", "max_uploads = 8", "body_timeout_ms = 3000"))
	const slow = 4
	conns := make([]net.Conn, slow)
	for i := range conns {
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff")
		conns[i] = c
	}
	testenv.WaitFor(t, 10*time.Second, "the slow uploads to be under way", func() bool {
		return srv.metric(t, "anonymize_uploads_in_progress") == slow
	}, srv.log.String)
	jpeg := facePhoto(t, 320, 240, ".jpg")
	if r := srv.post(t, "/v1/detect", "image/jpeg", jpeg); r.status != http.StatusOK {
		t.Fatalf("with %d slow uploads under way: status %d, body %s; want 200", slow, r.status, r.body)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("slow upload %d: no answer: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("slow upload %d: status %d, want 408", i, resp.StatusCode)
		}
	}
}
