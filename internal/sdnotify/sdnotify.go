// Package sdnotify tells systemd how a service is doing, as sd_notify(3)
// does: one datagram to the unix socket named in $NOTIFY_SOCKET, which
// systemd sets for a unit with Type=notify. Without it every call does
// nothing, so a service started any other way is unaffected.
package sdnotify

import (
	"fmt"
	"net"
	"os"
)

// States a service reports (sd_notify(3)).
const (
	Ready    = "READY=1"    // started: systemd ends the start job
	Stopping = "STOPPING=1" // shutting down
)

// SocketEnv is the environment variable systemd names its socket in.
const SocketEnv = "NOTIFY_SOCKET"

// Notify sends state to the socket in $NOTIFY_SOCKET. It reports whether a
// socket was named; an error means one was named but could not be reached.
func Notify(state string) (bool, error) {
	name := os.Getenv(SocketEnv)
	if name == "" {
		return false, nil
	}
	addr := &net.UnixAddr{Name: name, Net: "unixgram"}
	if name[0] == '@' { // an abstract socket
		addr.Name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return true, fmt.Errorf("sd_notify %s to %s: %w", state, name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return true, fmt.Errorf("sd_notify %s to %s: %w", state, name, err)
	}
	return true, nil
}
