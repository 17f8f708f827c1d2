package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"
)

// logOptions are the global --log-format and --log-level. They are taken
// out of the arguments before the commands parse theirs, so they apply to
// every command wherever they stand.
type logOptions struct {
	json     bool
	level    slog.Level
	levelSet bool // --log-level was given: it wins over --quiet's level
}

// logKey carries a run's logOptions in its context (Run puts them there).
type logKey struct{}

func withLogOptions(ctx context.Context, lo logOptions) context.Context {
	return context.WithValue(ctx, logKey{}, lo)
}

// logOptionsOf are the log options of c's run (the defaults when none).
func logOptionsOf(c *cli.Context) logOptions {
	lo, _ := c.Context.Value(logKey{}).(logOptions)
	return lo
}

// logFlags are shown in the help; takeLogFlags reads them.
var logFlags = []cli.Flag{
	&cli.StringFlag{Name: "log-format", Usage: "write log lines as `FORMAT`: text (key=value) or json (one object a line), for every command", Value: "text"},
	&cli.StringFlag{Name: "log-level", Usage: "log events at `LEVEL` and above: debug, info, warn or error, for every command (default: info; error with --quiet)"},
}

// takeLogFlags removes --log-format and --log-level (and their values)
// from args, before a "--"; a bad or missing value is an error naming the
// flag.
func takeLogFlags(args []string) ([]string, logOptions, error) {
	var lo logOptions
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "log-format" && name != "log-level") {
			out = append(out, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, lo, fmt.Errorf("--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if err := lo.set(name, strings.ToLower(value)); err != nil {
			return nil, lo, err
		}
	}
	return out, lo, nil
}

func (lo *logOptions) set(name, value string) error {
	if name == "log-format" {
		switch value {
		case "text", "json":
			lo.json = value == "json"
			return nil
		}
		return fmt.Errorf("--log-format %q: want text or json", value)
	}
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	l, ok := levels[value]
	if !ok {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", value)
	}
	lo.level, lo.levelSet = l, true
	return nil
}

// newLogger logs to w in lo's format, at lo's level when one was given,
// else at info (error with quiet).
func newLogger(w io.Writer, quiet bool, lo logOptions) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case lo.levelSet:
		level = lo.level
	case quiet:
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if lo.json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
