package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
)

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv(SocketEnv, path)
	if sent, err := Notify(Ready); !sent || err != nil {
		t.Fatalf("Notify: sent %v, %v; want sent", sent, err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != Ready {
		t.Errorf("systemd would read %q, %v; want %q", buf[:n], err, Ready)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv(SocketEnv, "")
	if sent, err := Notify(Ready); sent || err != nil {
		t.Errorf("no $%s: sent %v, %v; want nothing sent, no error", SocketEnv, sent, err)
	}
	t.Setenv(SocketEnv, filepath.Join(t.TempDir(), "gone.sock"))
	if sent, err := Notify(Ready); !sent || err == nil {
		t.Errorf("a socket that is not there: sent %v, %v; want an error naming it", sent, err)
	}
}
