package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/anonymize/anonymize/infer"
	"github.com/anonymize/anonymize/internal/app"
	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/models/mock"
)

var (
	flagModelsDir     = &cli.StringFlag{Name: "models-dir", Usage: "use the models folder `DIR` (default: models_dir from the config)"}
	flagMirror        = &cli.StringFlag{Name: "mirror", Usage: "fetch every model file by content from `URL`/<sha256> instead of its own URL (default: [hub] mirror from the config)"}
	flagAcceptLicense = &cli.BoolFlag{Name: "accept-license", Usage: "install a model whose licence is not permissive (GPL, non-commercial, unknown: models list shows each licence); without it only the licences in [hub] accept_licenses are"}
)

// modelsCommand is `anonymize models ...`.
func modelsCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "models",
		Usage: "list, pull, verify, remove and make models",
		Description: "Models come from catalogues: the one built into anonymize and those listed in\n" +
			"config.toml ([hub] catalogs, files or http(s) URLs). Each is installed as a folder\n" +
			"NAME (model.onnx + model.toml) in the models folder.",
		Action: subcommandsOnly,
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list installed models (* = the configured ones) and every catalogue's models",
				Flags: []cli.Flag{flagConfig, flagModelsDir,
					&cli.BoolFlag{Name: "json", Usage: "print a JSON array: name, version, adapter, license, description, dir, size, sha256, installed, configured, catalog and state of each model"}},
				Action: func(c *cli.Context) error {
					return cmdModelsList(c, stdout)
				},
			},
			{
				Name:      "pull",
				Usage:     "download a catalogue model (its highest version, or NAME@VERSION), check its size and sha256, and install it",
				ArgsUsage: "NAME[@VERSION]",
				Flags: []cli.Flag{flagConfig, flagModelsDir, flagMirror, quietFlag("no progress bar (what was installed is still printed)"),
					&cli.BoolFlag{Name: "force", Usage: "install again a version already installed (its folder, local edits included, is replaced)"}, flagAcceptLicense},
				Action: func(c *cli.Context) error {
					return cmdModelsPull(c, stdout)
				},
			},
			{
				Name:      "install",
				Usage:     "install a catalogue model from a local ONNX file (size and sha256 checked)",
				ArgsUsage: "NAME[@VERSION]",
				Flags: []cli.Flag{flagConfig, flagModelsDir,
					&cli.StringFlag{Name: "file", Required: true, Usage: "the model's ONNX `FILE`"}, flagAcceptLicense,
				},
				Action: func(c *cli.Context) error { return cmdModelsInstall(c, stdout) },
			},
			{
				Name:      "verify",
				Usage:     "load a model folder as anonymize does (its inputs and outputs checked against the adapter, one warm-up inference, the canary photo for face and person models) and describe it",
				ArgsUsage: "DIR|NAME",
				Flags: append(append([]cli.Flag{flagConfig}, settingFlags("providers")...),
					&cli.StringFlag{Name: "boxes", Usage: "also measure privacy recall against the labelled face boxes in `FILE` (with --images)"},
					&cli.StringFlag{Name: "images", Usage: "the labelled photos' folder `DIR` (with --boxes)"},
					&cli.Float64Flag{Name: "min-recall", Usage: "with --boxes: fail (exit 1) when recall is below `F`", DefaultText: "reload.min_recall"},
				),
				Action: func(c *cli.Context) error { return cmdModelsVerify(c, stdout) },
			},
			{
				Name:      "rm",
				Usage:     "remove an installed model folder",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{flagConfig, flagModelsDir},
				Action:    func(c *cli.Context) error { return cmdModelsRemove(c, stdout) },
			},
			{
				Name:  "mock",
				Usage: "write the mock model (TF Object Detection API signature; scores the share of pure red pixels) for testing integrations",
				Flags: []cli.Flag{&cli.StringFlag{Name: "out", Required: true, Usage: "write the model folder to `DIR`"}},
				Action: func(c *cli.Context) error {
					if err := mock.Write(c.String("out")); err != nil {
						return &exitError{exitSomeFailed, err}
					}
					fmt.Fprintf(stdout, "wrote %s\n", c.String("out"))
					return nil
				},
			},
		},
	}
}

// modelsConfig reads and checks the config, with --models-dir applied.
func modelsConfig(c *cli.Context) (config.Config, error) {
	cfg, err := config.Load(c.String("config"))
	if err != nil {
		return cfg, usageErr("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageErr("%v", err)
	}
	if c.IsSet("models-dir") {
		cfg.ModelsDir = c.String("models-dir")
	}
	return cfg, nil
}

// openHub reads the catalogues the config lists; --mirror replaces
// [hub] mirror. A catalogue that cannot be downloaded is a failure (1); one
// that is wrong is a config error (2).
func openHub(c *cli.Context, cfg config.Config) (*models.Hub, error) {
	mirror := cfg.Hub.Mirror
	if c.IsSet("mirror") {
		mirror = c.String("mirror")
		if !strings.HasPrefix(mirror, "http://") && !strings.HasPrefix(mirror, "https://") {
			return nil, usageErr("--mirror %q is not an http(s) URL", mirror)
		}
	}
	h, err := models.NewHub(c.Context, models.HubOptions{Catalogs: cfg.Hub.Catalogs, Mirror: mirror})
	if errors.Is(err, models.ErrDownload) {
		return nil, &exitError{exitSomeFailed, err}
	}
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return h, nil
}

// hubCommand is how pull and install start: one argument (usage says
// what), the config and the hub.
func hubCommand(c *cli.Context, usage string) (config.Config, *models.Hub, error) {
	if c.NArg() != 1 {
		return config.Config{}, nil, usageErr("%s", usage)
	}
	cfg, err := modelsConfig(c)
	if err != nil {
		return cfg, nil, err
	}
	h, err := openHub(c, cfg)
	return cfg, h, err
}

// resolveEntry finds ref (NAME or NAME@VERSION) in the catalogues.
func resolveEntry(h *models.Hub, ref string) (models.HubEntry, error) {
	e, err := h.Resolve(ref)
	if err != nil {
		return e, usageErr("%v (anonymize models list shows the catalogues)", err)
	}
	return e, nil
}

func cmdModelsList(c *cli.Context, stdout io.Writer) error {
	cfg, err := modelsConfig(c)
	if err != nil {
		return err
	}
	h, err := openHub(c, cfg)
	if err != nil {
		return err
	}
	installed, err := models.ListInstalled(cfg.ModelsDir)
	if err != nil {
		return &exitError{exitSomeFailed, err}
	}
	if c.Bool("json") {
		return writeModelsJSON(stdout, cfg, installed, h.Entries())
	}
	have := listInstalled(stdout, cfg, installed)
	entries := h.Entries()
	for _, src := range append([]string{models.BuiltinSource}, cfg.Hub.Catalogs...) {
		fmt.Fprintf(stdout, "catalogue %s:\n", models.Redacted(src))
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tVERSION\tADAPTER\tSIZE\tSTATUS\tLICENSE\tDESCRIPTION")
		n := 0
		for _, e := range entries {
			if e.Catalog != src {
				continue
			}
			n++
			status := "-"
			if v, ok := have[e.Name]; ok && v == e.Version {
				status = "installed"
				if cfg.Configured(filepath.Join(cfg.ModelsDir, e.Name)) {
					status = "active"
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Version, e.Adapter, humanSize(e.Size), status, e.License, e.Description)
		}
		if n == 0 {
			fmt.Fprintln(tw, "  (no models of its own: each entry is also in a later catalogue)")
		}
		tw.Flush()
	}
	return nil
}

// listInstalled prints the installed models (* marks the configured ones)
// and returns the installed version of each folder name, as pull installs
// them.
func listInstalled(stdout io.Writer, cfg config.Config, installed []models.Installed) map[string]string {
	have := map[string]string{}
	fmt.Fprintf(stdout, "installed in %s (* = the configured models):\n", cfg.ModelsDir)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tVERSION\tADAPTER\tLICENSE\tDESCRIPTION")
	for _, in := range installed {
		mark := " "
		if cfg.Configured(in.Dir) {
			mark = "*"
		}
		if in.Err != nil {
			fmt.Fprintf(tw, "%s %s\tbroken: %v\n", mark, filepath.Base(in.Dir), in.Err)
			continue
		}
		have[filepath.Base(in.Dir)] = in.Manifest.Version
		m := in.Manifest
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\t%s\n", mark, m.Name, m.Version, m.Adapter, m.License, m.Description)
	}
	if len(installed) == 0 {
		fmt.Fprintln(tw, "  (none: anonymize models pull NAME installs one)")
	}
	tw.Flush()
	return have
}

func humanSize(n int64) string {
	switch {
	case n <= 0:
		return "?"
	case n < 1_000_000:
		return fmt.Sprintf("%d kB", (n+500)/1000)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
}

func cmdModelsPull(c *cli.Context, stdout io.Writer) error {
	cfg, h, err := hubCommand(c, "models pull takes one model NAME, NAME@VERSION or alias (anonymize models list shows them)")
	if err != nil {
		return err
	}
	// An alias pulls every model it names: "models pull faces" installs
	// the default face detectors. Every licence is checked before the
	// first download.
	var entries []models.HubEntry
	for _, ref := range cfg.AliasNames(c.Args().First()) {
		e, err := resolveEntry(h, ref)
		if err != nil {
			return err
		}
		if err := checkLicense(c, cfg, e); err != nil {
			return err
		}
		entries = append(entries, e)
	}
	for _, e := range entries {
		if err := pullOne(c, cfg, h, e, stdout); err != nil {
			return err
		}
	}
	return nil
}

// checkLicense refuses (exit 2) a model whose licence is not permissive,
// unless --accept-license is given or [hub] accept_licenses lists it; an
// accepted one is stated on stderr before anything is installed.
func checkLicense(c *cli.Context, cfg config.Config, e models.HubEntry) error {
	err := models.CheckLicense(e.Entry, cfg.Hub.AcceptLicenses)
	if err == nil && models.Permissive(e.License) {
		return nil
	}
	if err != nil && !c.Bool("accept-license") {
		return usageErr("%v; to install it, accept its licence with --accept-license, or add %q to [hub] accept_licenses in the config", err, e.License)
	}
	how := "[hub] accept_licenses"
	if err != nil {
		how = "--accept-license"
	}
	fmt.Fprintf(c.App.ErrWriter, "anonymize: note: %s is under the licence %s, which is not permissive: accepted by %s\n", e.Name, e.License, how)
	return nil
}

// pullOne downloads and installs one catalogue entry, with a progress bar
// on a terminal.
func pullOne(c *cli.Context, cfg config.Config, h *models.Hub, e models.HubEntry, stdout io.Writer) error {
	stderr := c.App.ErrWriter
	if dir := filepath.Join(cfg.ModelsDir, e.Name); !c.Bool("force") {
		if m, err := models.ReadManifest(dir); err == nil && m.Name == e.Name && m.Version == e.Version {
			fmt.Fprintf(stdout, "%s %s is already installed in %s: left as it is (--force installs it again)\n", e.Name, e.Version, dir)
			return nil
		}
	}
	var bar *progressbar.ProgressBar
	var progress func(done, total int64)
	if !c.Bool("quiet") && isTerminal(stderr) {
		bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("pulling "+e.Name+" "+e.Version), progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		progress = func(done, total int64) {
			if total > 0 && bar.GetMax64() != total {
				bar.ChangeMax64(total)
			}
			bar.Set64(done)
		}
	}
	dst, err := h.Pull(c.Context, e.Entry, cfg.ModelsDir, progress)
	if bar != nil {
		if err == nil {
			bar.Finish()
		} else {
			bar.Clear()
		}
	}
	if err != nil {
		if c.Context.Err() != nil {
			return &exitError{exitInterrupted, err}
		}
		return &exitError{exitSomeFailed, err}
	}
	fmt.Fprintf(stdout, "installed %s %s (%s, licence %s) in %s, from %s\n", e.Name, e.Version, e.Adapter, e.License, dst, h.Location(e.Entry))
	return nil
}

func cmdModelsInstall(c *cli.Context, stdout io.Writer) error {
	cfg, h, err := hubCommand(c, "models install takes one model NAME or NAME@VERSION")
	if err != nil {
		return err
	}
	e, err := resolveEntry(h, c.Args().First())
	if err != nil {
		return err
	}
	if err := checkLicense(c, cfg, e); err != nil {
		return err
	}
	dst, err := models.Install(e.Entry, c.String("file"), cfg.ModelsDir)
	if err != nil {
		return &exitError{exitSomeFailed, err}
	}
	fmt.Fprintf(stdout, "installed %s %s (licence %s) in %s\n", e.Name, e.Version, e.License, dst)
	return nil
}

func cmdModelsVerify(c *cli.Context, stdout io.Writer) error {
	if c.NArg() != 1 {
		return usageErr("models verify takes one model folder DIR (or the NAME of an installed model)")
	}
	cfg, err := modelsConfig(c)
	if err != nil {
		return err
	}
	if c.IsSet("providers") {
		cfg.Runtime.Providers = c.StringSlice("providers")
		if err := cfg.Check(); err != nil {
			return usageErr("invalid flag value: %v", err)
		}
	}
	cfg.Model = c.Args().First()
	if dirs := cfg.ModelDirs(); len(dirs) > 1 {
		return usageErr("%s names %d models; verify them one at a time: %s", cfg.Model, len(dirs), strings.Join(cfg.ModelNames(), ", "))
	}
	dir := cfg.ModelDir()
	rt, err := infer.Init(infer.Options{Library: cfg.Runtime.Library, Providers: cfg.Runtime.Providers, Logger: discardLogger()})
	if err != nil {
		return usageErr("%v", err)
	}
	m, err := rt.Load(dir, cfg.SpecFor(dir).Options) // as a run would: its threshold, bands, tiles, labels
	if err != nil {
		return &exitError{exitSomeFailed, fmt.Errorf("verify %s: %w", dir, err)}
	}
	defer m.Close()
	if err := describeModel(stdout, m, dir); err != nil {
		return err
	}
	if c.IsSet("boxes") != c.IsSet("images") {
		return usageErr("--boxes and --images go together")
	}
	if c.IsSet("boxes") {
		floor := cfg.Reload.MinRecall
		if c.IsSet("min-recall") {
			floor = c.Float64("min-recall")
		}
		r, err := app.SetRecall(c.Context, cfg, m, c.String("images"), c.String("boxes"))
		if err != nil {
			return &exitError{exitSomeFailed, fmt.Errorf("verify %s: %w", dir, err)}
		}
		fmt.Fprintf(stdout, "recall    %.3f on %d faces in %d images (recall@0.8 %.3f, over-hiding %.4f)\n", r.Recall, r.Faces, r.Images, r.Recall80, r.OverHiding)
		if r.Recall < floor {
			return &exitError{exitSomeFailed, fmt.Errorf("verify %s: recall %.3f is below the minimum %.3f", dir, r.Recall, floor)}
		}
	}
	fmt.Fprintf(stdout, "ok: inputs and outputs match the %s adapter; warm-up inference ran\n", m.Info().Adapter)
	return nil
}

// dtypeName is ONNX Runtime's element type in short: "float", "uint8".
func dtypeName(t ort.TensorElementDataType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
}

func cmdModelsRemove(c *cli.Context, stdout io.Writer) error {
	if c.NArg() != 1 {
		return usageErr("models rm takes one installed model NAME")
	}
	cfg, err := modelsConfig(c)
	if err != nil {
		return err
	}
	name := c.Args().First()
	wasActive := cfg.Configured(filepath.Join(cfg.ModelsDir, name))
	dir, err := models.Remove(cfg.ModelsDir, name)
	switch {
	case errors.Is(err, models.ErrNotInstalled), errors.Is(err, models.ErrBadName):
		return usageErr("%v (anonymize models list shows what is installed)", err)
	case err != nil:
		return &exitError{exitSomeFailed, err}
	}
	fmt.Fprintf(stdout, "removed %s (%s)\n", name, dir)
	if wasActive {
		fmt.Fprintf(c.App.ErrWriter, "anonymize: note: %s was the configured model; set model in the config or pass --model\n", name)
	}
	return nil
}

// describeModel prints what models verify says of a loaded model: its
// identity, licence, threshold, canary, and real inputs and outputs.
func describeModel(stdout io.Writer, m *infer.Model, dir string) error {
	info, man := m.Info(), m.Manifest()
	fmt.Fprintf(stdout, "model     %s %s\n", info.Name, info.Version)
	fmt.Fprintf(stdout, "folder    %s\n", dir)
	fmt.Fprintf(stdout, "adapter   %s\n", info.Adapter)
	fmt.Fprintf(stdout, "license   %s\n", info.License)
	fmt.Fprintf(stdout, "provider  %s\n", info.Provider)
	fmt.Fprintf(stdout, "sha256    %s\n", info.SHA256)
	thr := fmt.Sprintf("%g", info.Threshold)
	if len(info.Bands) > 0 {
		thr = "by box height " + info.Bands.String()
	}
	fmt.Fprintf(stdout, "threshold %s; hides %s\n", thr, strings.Join(info.Hide, ", "))
	if c := m.Canary().String(); c != "" {
		fmt.Fprintf(stdout, "canary    %s\n", c)
	}
	ins, outs, err := ort.GetInputOutputInfo(filepath.Join(dir, models.ModelFile))
	if err != nil {
		return &exitError{exitSomeFailed, fmt.Errorf("verify %s: read inputs and outputs: %w", dir, err)}
	}
	in := man.Input
	size := fmt.Sprintf("%dx%d", in.Width, in.Height)
	if in.Width == 0 {
		size = fmt.Sprintf("any size, padded to a multiple of %d", in.Multiple)
	}
	for _, t := range ins {
		fmt.Fprintf(stdout, "input     %s %s %v: fed %s %s, %s, fit %s\n", t.Name, dtypeName(t.DataType), []int64(t.Dimensions), in.Layout, in.Colour, size, in.Fit)
	}
	for _, t := range outs {
		fmt.Fprintf(stdout, "output    %s %s %v\n", t.Name, dtypeName(t.DataType), []int64(t.Dimensions))
	}
	return nil
}
