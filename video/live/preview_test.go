package live

import (
	"bufio"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// TestLivePreview: the preview binds loopback when no host is named, serves
// the frames it is given as multipart JPEG parts, and ends its streams
// when closed.
func TestLivePreview(t *testing.T) {
	p, err := StartPreview(":0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if host, _, _ := net.SplitHostPort(p.Addr()); host != "127.0.0.1" {
		t.Errorf("preview listens on %s, want loopback", p.Addr())
	}
	page, err := http.Get("http://" + p.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(body), PreviewPath) {
		t.Errorf("page does not show the stream:\n%s", body)
	}

	resp, err := http.Get("http://" + p.Addr() + PreviewPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	parts := make(chan []byte)
	go func() {
		defer close(parts)
		mr := multipart.NewReader(bufio.NewReader(resp.Body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				return
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return
			}
			parts <- data
		}
	}()
	// Publish like a live stream until the viewer has a frame.
	green := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 200, 0, 0), 48, 64, gocv.MatTypeCV8UC3)
	defer green.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	var got []byte
	for got == nil {
		select {
		case got = <-parts:
		case <-tick.C:
			p.Publish(green)
		case <-deadline:
			t.Fatal("no frame served within 10 s")
		}
	}
	img, err := gocv.IMDecode(got, gocv.IMReadColor)
	if err != nil {
		t.Fatal(err)
	}
	px := [3]uint8{img.GetUCharAt(24, 32*3), img.GetUCharAt(24, 32*3+1), img.GetUCharAt(24, 32*3+2)}
	img.Close()
	if d := int(px[1]) - 200; px[0] > 10 || px[2] > 10 || d < -10 || d > 10 {
		t.Errorf("served pixel %v, want the green published (0, 200, 0)", px)
	}
	p.Close()
	for range parts { // the stream ends
	}
}
