// Command anonymize hides faces (and, with other models, plates and people)
// in images: it finds them with ONNX detectors and writes copies in which
// every detected region is blurred, pixelated or filled.
//
// main only wires: it turns signals into a context, runs the app and exits
// with its code. The commands live in cli.go.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
