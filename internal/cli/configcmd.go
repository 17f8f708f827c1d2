package cli

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/internal/config"
)

// configCommand is `anonymize config check [FILE]`: validate the settings
// and print them (docs/CONFIG.md).
func configCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "check the settings a run would use",
		Subcommands: []*cli.Command{{
			Name:      "check",
			Usage:     "validate FILE (default: the file the lookup finds) with the ANONYMIZE_* variables over it, and print the effective settings as TOML, secrets redacted",
			ArgsUsage: "[FILE]",
			Description: "Precedence: built-in defaults < config file < ANONYMIZE_* environment < flags.\n" +
				"Exit codes: 0 valid (settings on stdout); 1 invalid (each problem on stderr); 2 usage error.",
			Flags:  []cli.Flag{flagConfig},
			Action: func(c *cli.Context) error { return cmdConfigCheck(c, stdout) },
		}},
	}
}

// cmdConfigCheck loads and validates the config as a run would, reads the
// token file, and prints the result.
func cmdConfigCheck(c *cli.Context, stdout io.Writer) error {
	path := c.String("config")
	switch {
	case c.NArg() > 1:
		return usageErr("config check takes one FILE at most (got %d)", c.NArg())
	case c.NArg() == 1 && path != "":
		return usageErr("config check: give FILE or --config, not both")
	case c.NArg() == 1:
		path = c.Args().First()
	}
	cfg, err := config.Load(path)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		_, err = cfg.ServeToken()
	}
	if err != nil {
		return &exitError{exitSomeFailed, fmt.Errorf("config check: invalid: %w", err)}
	}
	fmt.Fprintf(stdout, "# anonymize config check: valid\n# file: %s\n# environment: %s\n# precedence: built-in defaults < file < environment < flags (docs/CONFIG.md)\n",
		configSource(cfg), envSource(cfg))
	if line := shardSource(cfg); line != "" {
		fmt.Fprintf(stdout, "# shard: %s\n", line)
	}
	if err := toml.NewEncoder(stdout).Encode(cfg.Redacted()); err != nil {
		return &exitError{exitSomeFailed, fmt.Errorf("config check: %w", err)}
	}
	return nil
}

// configSource names where cfg was read from.
func configSource(cfg config.Config) string {
	if cfg.File() == "" {
		return "none (built-in defaults)"
	}
	if abs, err := filepath.Abs(cfg.File()); err == nil {
		return abs
	}
	return cfg.File()
}

// envSource lists the ANONYMIZE_ variables that set keys of cfg.
func envSource(cfg config.Config) string {
	if vars := cfg.FromEnv(); len(vars) > 0 {
		return strings.Join(vars, ", ")
	}
	return "none"
}

// shardSource says which part of a folder run a split config gives this
// worker, or why a folder run would refuse to start ("": no split).
func shardSource(cfg config.Config) string {
	if cfg.Run.Shards <= 1 && !cfg.JobIndexUnused() {
		return ""
	}
	k, n, err := cfg.Shard()
	switch {
	case err != nil:
		return "a folder run refuses to start: " + err.Error()
	case cfg.JobIndexUnused():
		return "none: " + config.JobIndexEnv + " is set but run.shards is not, so this worker takes every file"
	}
	return fmt.Sprintf("%d/%d (%s + 1 of run.shards)", k, n, config.JobIndexEnv)
}

// logConfig is a run's first log line: the config file it read and the
// variables over it. A JOB_COMPLETION_INDEX with no split is warned of:
// every pod of that Job takes every file.
func logConfig(log *slog.Logger, cfg config.Config) {
	log.Info("config", "file", configSource(cfg), "environment", envSource(cfg))
	if cfg.JobIndexUnused() {
		log.Warn("JOB_COMPLETION_INDEX is set but run.shards is not: this worker takes every file; set " +
			config.EnvVar("run.shards") + " to the Job's completions")
	}
}
