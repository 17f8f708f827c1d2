package main

import (
	"errors"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"
)

// cmdLive anonymizes a camera or stream (--camera, --stream).
func cmdLive(c *cli.Context, cfg Config, log *slog.Logger, stderr io.Writer) error {
	return &exitError{exitUsage, errors.New("live sources are not implemented yet")}
}
