package main

import (
	"errors"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"
)

// cmdWatch anonymizes folders and keeps watching them (--watch).
func cmdWatch(c *cli.Context, cfg Config, log *slog.Logger, stderr io.Writer) error {
	return &exitError{exitUsage, errors.New("--watch is not implemented yet")}
}
