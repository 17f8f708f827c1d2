package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/models"
)

// modelsCommand is `anonymize models ...`.
func modelsCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "models",
		Usage: "list, install and make models",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list installed models and the catalogue; the configured one is marked",
				Flags: []cli.Flag{flagConfig},
				Action: func(c *cli.Context) error {
					return cmdModelsList(c, stdout)
				},
			},
			{
				Name:      "install",
				Usage:     "install a catalogue model from a local ONNX file (size and sha256 checked)",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{flagConfig,
					&cli.StringFlag{Name: "file", Required: true, Usage: "the model's ONNX `FILE`"},
					&cli.StringFlag{Name: "models-dir", Usage: "install into `DIR` (default: models_dir from the config)"},
				},
				Action: func(c *cli.Context) error { return cmdModelsInstall(c, stdout) },
			},
			{
				Name:  "mock",
				Usage: "write the mock model (TF Object Detection API signature; scores the share of pure red pixels) for testing integrations",
				Flags: []cli.Flag{&cli.StringFlag{Name: "out", Required: true, Usage: "write the model folder to `DIR`"}},
				Action: func(c *cli.Context) error {
					if err := models.WriteMock(c.String("out")); err != nil {
						return &exitError{exitSomeFailed, err}
					}
					fmt.Fprintf(stdout, "wrote %s\n", c.String("out"))
					return nil
				},
			},
		},
	}
}

func cmdModelsList(c *cli.Context, stdout io.Writer) error {
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return usageErr("%v", err)
	}
	cat, err := models.BuiltinCatalog()
	if err != nil {
		return &exitError{exitSomeFailed, err}
	}
	active := filepath.Clean(cfg.modelDir())
	fmt.Fprintf(stdout, "installed in %s:\n", cfg.ModelsDir)
	entries, _ := os.ReadDir(cfg.ModelsDir)
	n := 0
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(cfg.ModelsDir, e.Name())
		m, err := models.ReadManifest(dir)
		if errors.Is(err, models.ErrNoManifest) {
			continue
		}
		mark := " "
		if filepath.Clean(dir) == active {
			mark = "*"
		}
		n++
		if err != nil {
			fmt.Fprintf(stdout, "%s %-40s broken: %v\n", mark, e.Name(), err)
			continue
		}
		fmt.Fprintf(stdout, "%s %-40s %-10s %-10s %s\n", mark, m.Name, m.Version, m.Adapter, m.Description)
	}
	if n == 0 {
		fmt.Fprintln(stdout, "  (none: scripts/setup.sh installs the default models)")
	}
	fmt.Fprintln(stdout, "catalogue:")
	for _, e := range cat.Models {
		fmt.Fprintf(stdout, "  %-40s %-10s %-10s %s\n", e.Name, e.Version, e.Adapter, e.Description)
	}
	return nil
}

func cmdModelsInstall(c *cli.Context, stdout io.Writer) error {
	if c.NArg() != 1 {
		return usageErr("models install takes one model NAME")
	}
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return usageErr("%v", err)
	}
	dir := cfg.ModelsDir
	if c.IsSet("models-dir") {
		dir = c.String("models-dir")
	}
	cat, err := models.BuiltinCatalog()
	if err != nil {
		return &exitError{exitSomeFailed, err}
	}
	e, ok := cat.Find(c.Args().First())
	if !ok {
		return usageErr("no model %q in the catalogue (anonymize models list)", c.Args().First())
	}
	dst, err := models.Install(e, c.String("file"), dir)
	if err != nil {
		return &exitError{exitSomeFailed, err}
	}
	fmt.Fprintf(stdout, "installed %s %s in %s\n", e.Name, e.Version, dst)
	return nil
}
