// Command anonymize hides faces (and, with other models, plates and people)
// in images, videos, live streams and watched folders: it finds them with
// ONNX detectors and writes copies in which every detected region is hidden.
//
// main only wires: SIGINT and SIGTERM end the context, SIGHUP becomes a
// reload request on a one-slot channel (a burst merges into one reload), and
// the exit code comes from cli.Run. The commands live in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/anonymize/anonymize/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	reload, stopReload := reloadRequests()
	code := cli.Run(ctx, cli.Env{Args: os.Args, Stdout: os.Stdout, Stderr: os.Stderr, Reload: reload})
	stopReload()
	stop()
	os.Exit(code)
}

// reloadRequests turns SIGHUP into reload requests. The channel has one
// slot: a request that arrives while one is waiting merges into it.
func reloadRequests() (<-chan struct{}, func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default: // one is already waiting
				}
			}
		}
	}()
	return reload, func() { signal.Stop(hup); close(done) }
}
