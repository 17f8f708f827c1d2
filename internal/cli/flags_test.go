package cli

import (
	"fmt"
	"image/color"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/internal/testenv"
)

// lookupKey finds a dotted key ("hide.mask_scale") in a decoded TOML file.
func lookupKey(m map[string]any, key string) (any, bool) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			return nil, false
		}
		m = sub
	}
	v, ok := m[parts[len(parts)-1]]
	return v, ok
}

var shownDefault = regexp.MustCompile(`\(default: (.*)\)$`)

// TestFlagDefaultsAreTheConfigDefaults: the default each setting flag shows
// in help is the value config.toml (the documented defaults, equal to the
// built-in ones: TestRepoConfigIsTheDefaults) gives the key it sets; a
// flag that shows an automatic choice instead stands for a key whose value
// is 0.
func TestFlagDefaultsAreTheConfigDefaults(t *testing.T) {
	var file map[string]any
	if _, err := toml.DecodeFile(filepath.Join(testenv.RepoRoot(), "config.toml"), &file); err != nil {
		t.Fatal(err)
	}
	for _, s := range settingTable() {
		help := s.flag.String()
		m := shownDefault.FindStringSubmatch(help)
		for _, key := range s.keys {
			v, ok := lookupKey(file, key)
			if !ok {
				t.Errorf("--%s sets %s, which config.toml does not have", s.name(), key)
				continue
			}
			var want string
			switch v := v.(type) {
			case string:
				want = fmt.Sprintf("%q", v)
				if v == "" {
					want = ""
				}
			case []any:
				var q []string
				for _, e := range v {
					q = append(q, fmt.Sprintf("%q", e))
				}
				want = strings.Join(q, ", ")
			case int64:
				want = fmt.Sprint(v)
				if strings.HasSuffix(key, "_seconds") {
					want = (time.Duration(v) * time.Second).String()
				} else if strings.HasSuffix(key, "_ms") {
					want = (time.Duration(v) * time.Millisecond).String()
				}
			default:
				want = fmt.Sprint(v)
			}
			switch {
			case s.auto != "" && len(s.keys) > 1:
				// One flag for several keys: the text names each key's value.
				if m == nil || !strings.Contains(m[1], strings.Trim(want, `"`)+" ") || !strings.Contains(m[1], key) {
					t.Errorf("--%s shows %q, want it to name %s = %s", s.name(), help, key, want)
				}
			case s.auto != "":
				if want != "0" && want != "0s" {
					t.Errorf("--%s shows %q as its default, but config.toml sets %s = %s", s.name(), s.auto, key, want)
				}
				if m == nil || m[1] != s.auto {
					t.Errorf("--%s help %q does not show %q", s.name(), help, s.auto)
				}
			case want == "":
				if m != nil && !strings.Contains(help, "(default: FOLDER") && !strings.Contains(help, "(default: the") {
					t.Errorf("--%s shows default %q, but config.toml leaves %s empty", s.name(), m[1], key)
				}
			default:
				if m == nil || m[1] != want {
					t.Errorf("--%s help %q: want (default: %s), the value of %s in config.toml", s.name(), help, want, key)
				}
			}
		}
	}
}

// TestSettingFlagsAreShared: a flag that sets a config key is the table's
// in every command that has it, so no command shows other help or another
// default for the same setting.
func TestSettingFlagsAreShared(t *testing.T) {
	table := map[string]string{}
	for _, s := range settingTable() {
		table[s.name()] = s.flag.String()
	}
	// Flags of the same name that mean something else there.
	other := map[string]bool{
		"anonymize serve --out":       true, // the live source's segment folder
		"anonymize models mock --out": true, // the mock model's folder
	}
	var walk func(path string, flags []cli.Flag, cmds []*cli.Command)
	walk = func(path string, flags []cli.Flag, cmds []*cli.Command) {
		for _, f := range flags {
			name := f.Names()[0]
			if want, ok := table[name]; ok && f.String() != want && !other[path+" --"+name] {
				t.Errorf("%s --%s:\n got %s\nwant %s", path, name, f.String(), want)
			}
		}
		for _, c := range cmds {
			walk(path+" "+c.Name, c.Flags, c.Subcommands)
		}
	}
	app := newApp(Env{})
	walk("anonymize", app.Flags, app.Commands)
}

// TestUnknownCommand: a mistyped command is a usage error naming the
// closest command, before anything is loaded; a word that is a path is an
// input even when it is close to a command.
func TestUnknownCommand(t *testing.T) {
	cfg := repoConfig(t)
	for _, tc := range []struct{ args, want string }{
		{"serv", `unknown command "serv": did you mean "serve"?`},
		{"modles list", `unknown command "modles": did you mean "models"?`},
		{"models lst", `unknown command "lst" for models: did you mean "list"?`},
		{"evla", `unknown command "evla": did you mean "eval"?`},
	} {
		code, _, stderr := runCLI(t, append([]string{"--config", cfg}, strings.Fields(tc.args)...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("anonymize %s: exit %d, stderr %q; want exit 2 saying %s", tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "loading") || strings.Contains(stderr, "cannot anonymize") {
			t.Errorf("anonymize %s: went on as a run: %s", tc.args, stderr)
		}
	}
	// An existing folder named like a command's typo is an input.
	dir := t.TempDir()
	t.Chdir(dir)
	writePNG(t, filepath.Join(dir, "serv", "a.png"), 8, 8, func(x, y int) color.NRGBA { return color.NRGBA{128, 128, 128, 255} })
	code, _, stderr := runCLI(t, "--config", cfg, "serv")
	if code != exitOK {
		t.Errorf("anonymize serv with a folder serv: exit %d, want 0: %s", code, stderr)
	}
}
