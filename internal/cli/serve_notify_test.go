package cli

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/anonymize/anonymize/internal/sdnotify"
)

// TestServeNotifiesSystemd: under a Type=notify unit, systemd hears READY=1
// once the service answers /readyz with 200, and STOPPING=1 at shutdown.
func TestServeNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv(sdnotify.SocketEnv, sock)
	srv := startServe(t, nil, "--config", defaultServeConfig(t))
	read := func() string {
		// A deadline only so that a missing message fails instead of hanging.
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no message to systemd: %v\n%s", err, srv.log)
		}
		return string(buf[:n])
	}
	if msg := read(); msg != sdnotify.Ready {
		t.Fatalf("first message to systemd %q, want %q", msg, sdnotify.Ready)
	}
	if r := srv.get(t, "/readyz"); r.status != 200 {
		t.Errorf("READY=1 sent, but /readyz answers %d", r.status)
	}
	if code := srv.stop(t); code != exitOK {
		t.Errorf("serve exited %d", code)
	}
	if msg := read(); msg != sdnotify.Stopping {
		t.Errorf("message to systemd at shutdown %q, want %q", msg, sdnotify.Stopping)
	}
}
