package live

import (
	"net"
	"strings"
	"testing"
)

// TestOpenStreamRefused: a stream whose server refuses the connection is
// reported as that, not as a stream OpenCV cannot read, and a password in
// the URL stays out of the message.
func TestOpenStreamRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, u := range []string{"http://" + addr + "/stream", "rtsp://cam:secret@" + addr + "/s"} {
		_, err := OpenStream(u)
		if err == nil {
			t.Fatalf("%s: opened", u)
		}
		if msg := err.Error(); !strings.Contains(msg, "connection refused") || strings.Contains(msg, "cannot read it") || strings.Contains(msg, "secret") {
			t.Errorf("%s: %q, want connection refused (and no password)", u, msg)
		}
	}
}
