package cli

import (
	"io"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/internal/testenv"
)

// ---- help ------------------------------------------------------------------

func TestEveryCommandAndFlagHasHelp(t *testing.T) {
	app := newApp(Env{Stdout: io.Discard, Stderr: io.Discard})
	if strings.TrimSpace(app.Usage) == "" {
		t.Error("app: no Usage")
	}
	checkFlags := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			df, ok := f.(cli.DocGenerationFlag)
			if !ok {
				t.Errorf("%s: flag %v cannot report its usage", where, f.Names())
				continue
			}
			if strings.TrimSpace(df.GetUsage()) == "" {
				t.Errorf("%s: flag --%s has no Usage", where, f.Names()[0])
			}
		}
	}
	checkFlags("anonymize", app.Flags)
	var seen []string
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := path + " " + c.Name
			seen = append(seen, p)
			if strings.TrimSpace(c.Usage) == "" {
				t.Errorf("%s: no Usage", p)
			}
			checkFlags(p, c.Flags)
			walk(p, c.Subcommands)
		}
	}
	walk("anonymize", app.Commands)
	for _, want := range []string{"anonymize version", "anonymize models", "anonymize models list", "anonymize models install", "anonymize models mock"} {
		if !slices.Contains(seen, want) {
			t.Errorf("command %q not found; walked %q", want, seen)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"models", "--help"}, {"models", "mock", "--help"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitOK {
			t.Errorf("anonymize %s: exit %d, want 0; stderr: %s", strings.Join(args, " "), code, stderr)
		}
		if !strings.Contains(stdout, "USAGE") {
			t.Errorf("anonymize %s: no help on stdout: %q", strings.Join(args, " "), stdout)
		}
	}
	_, stdout, _ := runCLI(t, "--help")
	for _, want := range []string{"--out", "--style", "--audit", "Exit codes: 0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("anonymize --help does not mention %q", want)
		}
	}
}

// ---- other commands ----------------------------------------------------------

func TestVersion(t *testing.T) {
	cfg := repoConfig(t)
	code, stdout, stderr := runCLI(t, "version", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "anonymize ") || !regexp.MustCompile(`(?m)^onnx runtime \d+\.\d+\.\d+`).MatchString(stdout) {
		t.Errorf("version output %q: want the tool's version and an ONNX Runtime version", stdout)
	}
}

func TestModelsListMarksActive(t *testing.T) {
	repo := repoConfig(t)
	testenv.Model(t, "blazeface-front-128")
	other := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, other, []byte("models_dir = "+strconv.Quote(testenv.ModelsDir())+"\nmodel = \"blazeface-front-128\"\n"))
	for _, tt := range []struct {
		config string
		active []string
	}{{repo, []string{"yunet-n-dynamic", "yunet-s-640-opencvzoo-2023mar"}}, {other, []string{"blazeface-front-128"}}} {
		code, stdout, stderr := runCLI(t, "models", "list", "--config", tt.config)
		if code != exitOK {
			t.Fatalf("models list: exit %d; stderr:\n%s", code, stderr)
		}
		var marked []string
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, "*") {
				marked = append(marked, strings.Fields(l)[1])
			}
		}
		if !slices.Equal(marked, tt.active) {
			t.Errorf("models list marks %q, want %q:\n%s", marked, tt.active, stdout)
		}
	}
}

// TestBuildVersion: without -ldflags, the version comes from the build's
// record: the module version, else the commit (dirty or not), else "dev".
func TestBuildVersion(t *testing.T) {
	info := func(main string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Version: main}, Settings: settings}, true
		}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123"}
	for _, tc := range []struct {
		info func() (*debug.BuildInfo, bool)
		want string
	}{
		{info("v1.2.3"), "v1.2.3"},
		{info("(devel)", rev), "dev-0123456789ab"},
		{info("(devel)", rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "dev-0123456789ab-dirty"},
		{info("(devel)"), "dev"},
		{func() (*debug.BuildInfo, bool) { return nil, false }, "dev"},
	} {
		if got := buildVersion(tc.info); got != tc.want {
			t.Errorf("buildVersion: %q, want %q", got, tc.want)
		}
	}
}
