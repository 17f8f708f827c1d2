package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/anonymize/anonymize/internal/config"
)

// Exit codes: a stable, documented table (README "Exit codes").
const (
	exitOK          = 0 // everything asked for was done
	exitSomeFailed  = 1 // some inputs failed (each named on stderr); the rest were written
	exitUsage       = 2 // bad flags, arguments or config, or the model could not be loaded
	exitInterrupted = 130
)

// version is anonymize's version: set at build time with -ldflags
// "-X github.com/anonymize/anonymize/internal/cli.ldflagsVersion=..."
// (scripts/setup.sh sets it from git describe), else the build's own
// record (buildVersion).
var version = buildVersion(debug.ReadBuildInfo)

// buildVersion is the -ldflags version when set, else the module version
// of the build (go install module@v1.2.3), else the commit it was built
// from (dev-REVISION, -dirty when the tree had changes), else "dev".
func buildVersion(info func() (*debug.BuildInfo, bool)) string {
	if ldflagsVersion != "" {
		return ldflagsVersion
	}
	bi, ok := info()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	v := "dev-" + rev[:min(12, len(rev))]
	if dirty {
		v += "-dirty"
	}
	return v
}

// ldflagsVersion is what -ldflags -X sets (see version).
var ldflagsVersion string

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, a...)}
}

// Env is what a run gets from its process.
type Env struct {
	Args           []string // the program name first
	Stdout, Stderr io.Writer
	// Reload delivers reload requests (main sends one on SIGHUP). It has
	// one slot, so a burst merges into one reload. Nil: none arrive.
	Reload <-chan struct{}

	hooks *serveHooks // tests only: observe and steer a service
}

// Run builds the app and runs it, returning the exit code (README "Exit
// codes").
func Run(ctx context.Context, env Env) int {
	stderr := env.Stderr
	args, logs, err := takeLogFlags(env.Args)
	if err != nil {
		fmt.Fprintf(stderr, "anonymize: %v\n", err)
		return exitUsage
	}
	app := newApp(env)
	err = app.RunContext(withLogOptions(ctx, logs), permuteArgs(app, args))
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "anonymize: %v\n", ee.err)
		}
		return ee.code
	}
	// Errors from flag parsing and unknown commands.
	fmt.Fprintf(stderr, "anonymize: %v\n", err)
	return exitUsage
}

var (
	flagConfig = &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "read settings from `FILE` (default: ./config.toml, else ~/.config/anonymize/config.toml, else /etc/anonymize/config.toml, else config.toml beside the binary; docs/CONFIG.md)"}
	flagQuiet  = quietFlag("print only errors: no progress bar, no summary")
)

// quietFlag is --quiet (-q) with what it does in one command.
func quietFlag(usage string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: usage}
}

func anonymizeFlags() []cli.Flag {
	flags := []cli.Flag{flagConfig}
	flags = append(flags, settingFlags("out", "model", "threshold", "tiles", "style", "shape", "mask-scale", "format")...)
	flags = append(flags,
		&cli.StringFlag{Name: "audit", Usage: "write an audit record to `FILE`: each model (name, version, sha256, threshold, style), and per input its sha256, its output's and every box with score and label"},
		&cli.StringFlag{Name: "json", Hidden: true, Usage: "deprecated name of --audit (`FILE`)"})
	flags = append(flags, settingFlags("jobs", "overwrite", "threads", "shard")...)
	flags = append(flags,
		&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "keep running: anonymize what is in the folders, then every new or changed image and video as it arrives"},
		&cli.StringFlag{Name: "camera", Usage: "anonymize a live camera: OpenCV device `INDEX` (e.g. 0)"},
		&cli.StringFlag{Name: "stream", Usage: "anonymize a live stream: rtsp, http or udp `URL`, or a file played in real time"},
	)
	flags = append(flags, settingFlags("segment", "jpeg-every", "preview", "keep-audio", "codec", "preset", "persist", "lookahead", "on-error", "detect-max-side", "tile-side", "providers", "metrics")...)
	return append(flags, flagQuiet)
}

func newApp(env Env) *cli.App {
	stdout, stderr := env.Stdout, env.Stderr
	return &cli.App{
		Name:      "anonymize",
		Usage:     "hide faces in images, videos and live streams: detect them with ONNX models, write anonymized copies",
		UsageText: "anonymize [options] PATH...   (folders are walked recursively; originals are never changed)\nanonymize --watch [options] FOLDER...\nanonymize --camera N|--stream URL --out DIR [options]\nanonymize serve|eval|models|config|version|completion|man ...",
		Description: "Writes an anonymized copy of every image and video under each PATH. Detected regions\n" +
			"are blurred, pixelated or filled. Outputs are written atomically; a file that cannot be\n" +
			"read is named on stderr and the run goes on. --watch keeps watching the folders;\n" +
			"--camera and --stream anonymize live sources.\n\n" +
			"Exit codes: 0 all done; 1 some inputs failed; 2 usage, config or model error; 130 interrupted.",
		Version:        version,
		Writer:         stdout,
		ErrWriter:      stderr,
		Flags:          append(anonymizeFlags(), logFlags...),
		ArgsUsage:      "PATH...",
		ExitErrHandler: func(*cli.Context, error) {},
		Action:         func(c *cli.Context) error { return cmdAnonymize(c, env) },
		Commands: []*cli.Command{
			versionCommand(stdout),
			modelsCommand(stdout),
			evalCommand(stdout, stderr),
			serveCommand(env),
			configCommand(stdout),
			completionCommand(stdout),
			manCommand(stdout),
		},
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// settings merges the config file and the flags that were set.
func settings(c *cli.Context) (config.Config, error) {
	cfg, err := config.Load(c.String("config"))
	if err != nil {
		return cfg, usageErr("%v", err)
	}
	// A bad file is named as such; once it is good, anything bad below came
	// from a flag and must not be blamed on the file.
	if err := cfg.Validate(); err != nil {
		return cfg, usageErr("%v", err)
	}
	applySettings(c, &cfg)
	if err := cfg.Check(); err != nil {
		return cfg, usageErr("invalid flag value: %v", err)
	}
	return cfg, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
