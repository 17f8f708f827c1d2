package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/anonymize/anonymize/internal/testenv"
)

// writeConfig writes text as a config file in a new folder.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEnvOverrides: an ANONYMIZE_ variable beats the file's value for its
// key; one the program does not know, one that does not parse and one
// Check refuses are errors naming the variable (a secret's value unshown).
func TestEnvOverrides(t *testing.T) {
	file := writeConfig(t, "[run]\njobs = 1\n[hide]\nstyle = \"solid\"\n[serve]\ntoken = \"abc\"\n")
	tokenFile := writeConfig(t, "[serve]\ntoken_file = \"/run/secrets/token\"\n")
	for _, tc := range []struct {
		name    string
		env     []string
		check   func(Config) bool
		wantErr []string // each in the error; nil: no error
		notErr  string   // never in the error
	}{
		{"env beats file", []string{"ANONYMIZE_RUN_JOBS=2", "ANONYMIZE_HIDE_STYLE=pixelate"},
			func(c Config) bool { return c.Run.Jobs == 2 && c.Hide.Style == "pixelate" }, nil, ""},
		{"file stays without env", nil,
			func(c Config) bool { return c.Run.Jobs == 1 && c.Hide.Style == "solid" }, nil, ""},
		{"list, float and bool", []string{"ANONYMIZE_RUNTIME_PROVIDERS=cuda, cpu", "ANONYMIZE_HIDE_MASK_SCALE=1.5", "ANONYMIZE_OUTPUT_OVERWRITE=true"},
			func(c Config) bool {
				return reflect.DeepEqual(c.Runtime.Providers, []string{"cuda", "cpu"}) && c.Hide.MaskScale == 1.5 && c.Output.Overwrite
			}, nil, ""},
		{"scripts' variables are no keys", []string{"ANONYMIZE_SHARED=/x", "ANONYMIZE_MODEL_MIRROR=/y", "HOME=/root"},
			func(c Config) bool { return c.Run.Jobs == 1 }, nil, ""},
		{"unknown variable", []string{"ANONYMIZE_RUN_JOB=2"}, nil, []string{"ANONYMIZE_RUN_JOB", "no such setting"}, ""},
		{"not a number", []string{"ANONYMIZE_RUN_JOBS=two"}, nil, []string{"ANONYMIZE_RUN_JOBS", "run.jobs", "not a whole number"}, ""},
		{"out of range", []string{"ANONYMIZE_RUN_JOBS=100000"}, nil, []string{`ANONYMIZE_RUN_JOBS="100000"`, "run.jobs: 100000 is outside"}, ""},
		{"bad choice", []string{"ANONYMIZE_HIDE_STYLE=smudge"}, nil, []string{"ANONYMIZE_HIDE_STYLE", "hide.style"}, ""},
		{"secret never shown", []string{"ANONYMIZE_SERVE_TOKEN=s3cret value"}, nil, []string{"ANONYMIZE_SERVE_TOKEN", "serve.token"}, "s3cret"},
		{"token and token file", []string{"ANONYMIZE_SERVE_TOKEN=abc", "ANONYMIZE_SERVE_TOKEN_FILE=/run/secrets/token"}, nil,
			[]string{"ANONYMIZE_SERVE_TOKEN_FILE", "serve.token is set too"}, "abc"},
		{"job index not a number", []string{"JOB_COMPLETION_INDEX=first"}, nil, []string{"JOB_COMPLETION_INDEX"}, ""},
		{"URL password never shown", []string{"ANONYMIZE_HUB_MIRROR=htps://bob:hunter2@mirror.example"}, nil,
			[]string{"ANONYMIZE_HUB_MIRROR", "hub.mirror", "bob"}, "hunter2"},
		// An empty variable (a Secret gone missing in a template) must not
		// turn the file's token off: serve would run without authentication.
		{"empty token file over the file's", []string{"ANONYMIZE_SERVE_TOKEN_FILE="}, nil,
			[]string{"ANONYMIZE_SERVE_TOKEN_FILE", "authentication off"}, ""},
		{"empty token over the file's", []string{"ANONYMIZE_SERVE_TOKEN="}, nil,
			[]string{"ANONYMIZE_SERVE_TOKEN", "authentication off"}, ""},
		{"token file for the token", []string{"ANONYMIZE_SERVE_TOKEN=", "ANONYMIZE_SERVE_TOKEN_FILE=/run/secrets/token"},
			func(c Config) bool { return c.Serve.Token == "" && c.Serve.TokenFile == "/run/secrets/token" }, nil, ""},
	} {
		file := file
		if tc.name == "empty token file over the file's" {
			file = tokenFile
		}
		c, err := LoadEnv(file, tc.env)
		if err == nil {
			err = c.Validate()
		}
		switch {
		case tc.wantErr == nil && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr == nil && !tc.check(c):
			t.Errorf("%s: got %+v", tc.name, c)
		case tc.wantErr != nil && err == nil:
			t.Errorf("%s: no error, want one naming %v", tc.name, tc.wantErr)
		case tc.wantErr != nil:
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not say %q", tc.name, err, w)
				}
			}
			if tc.notErr != "" && strings.Contains(err.Error(), tc.notErr) {
				t.Errorf("%s: error %q shows the secret", tc.name, err)
			}
		}
	}
}

// TestEnvKeysAreConfigKeys: every variable names a key config.toml
// documents, no two keys share a variable, and docs/CONFIG.md lists each.
func TestEnvKeysAreConfigKeys(t *testing.T) {
	var file map[string]any
	if _, err := toml.DecodeFile(filepath.Join(testenv.RepoRoot(), "config.toml"), &file); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "CONFIG.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, k := range EnvKeys() {
		v := EnvVar(k)
		if prev, ok := seen[v]; ok {
			t.Errorf("%s and %s share %s", prev, k, v)
		}
		seen[v] = k
		m := file
		parts := strings.Split(k, ".")
		for _, p := range parts[:len(parts)-1] {
			m, _ = m[p].(map[string]any)
		}
		if _, ok := m[parts[len(parts)-1]]; !ok {
			t.Errorf("%s sets %s, which config.toml does not document", v, k)
		}
		if !strings.Contains(string(doc), "`"+v+"`") {
			t.Errorf("docs/CONFIG.md does not list `%s`", v)
		}
	}
	if len(seen) < 50 {
		t.Errorf("only %d variables: keys are missing", len(seen))
	}
}

// TestSearchPath: without --config, ./config.toml comes first, then the
// user's, then the system's; a relative path in the file found resolves
// against that file's folder.
func TestSearchPath(t *testing.T) {
	home := t.TempDir()
	got := SearchPath([]string{"HOME=" + home})
	want := []string{"config.toml", filepath.Join(home, ".config", "anonymize", "config.toml"), "/etc/anonymize/config.toml"}
	if len(got) < 3 || !reflect.DeepEqual(got[:3], want) {
		t.Fatalf("search path %q, want it to start %q", got, want)
	}
	xdg := t.TempDir()
	user := filepath.Join(xdg, "anonymize", "config.toml")
	if err := os.MkdirAll(filepath.Dir(user), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(user, []byte("models_dir = \"m\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	env := []string{"XDG_CONFIG_HOME=" + xdg, "HOME=" + home}
	c, err := LoadEnv("", env)
	if err != nil || c.File() != user || c.ModelsDir != filepath.Join(xdg, "anonymize", "m") {
		t.Fatalf("found %q with models_dir %q (%v), want %s and its m", c.File(), c.ModelsDir, err, user)
	}
	if err := os.WriteFile("config.toml", []byte("models_dir = \"here\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadEnv("", env); err != nil || c.File() != "config.toml" {
		t.Errorf("with ./config.toml found %q (%v), want ./config.toml first", c.File(), err)
	}
}

// TestShard: --shard beats run.shards; run.shards takes the index from
// JOB_COMPLETION_INDEX (0-based); a split without an index, or an index
// the split has no room for, is an error.
func TestShard(t *testing.T) {
	file := writeConfig(t, "[run]\nshards = 3\n")
	for _, tc := range []struct {
		env         []string
		flag        string
		k, n        int
		errContains string
	}{
		{env: nil, flag: "2/5", k: 2, n: 5},
		{env: []string{"JOB_COMPLETION_INDEX=0"}, k: 1, n: 3},
		{env: []string{"JOB_COMPLETION_INDEX=2"}, k: 3, n: 3},
		{env: []string{"JOB_COMPLETION_INDEX=3"}, errContains: "JOB_COMPLETION_INDEX=3 is outside run.shards = 3"},
		{env: nil, errContains: "--shard K/3, or JOB_COMPLETION_INDEX"},
		{env: []string{"ANONYMIZE_RUN_SHARDS=1", "JOB_COMPLETION_INDEX=4"}, k: 1, n: 1},
		{env: nil, flag: "4/3", errContains: `--shard "4/3"`},
		{env: nil, flag: "0/3", errContains: `--shard "0/3"`},
	} {
		c, err := LoadEnv(file, tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if tc.flag != "" {
			c.ForceShard(tc.flag)
		}
		k, n, err := c.Shard()
		if tc.errContains != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errContains) {
				t.Errorf("%v %s: shard %d/%d, error %v; want one saying %s", tc.env, tc.flag, k, n, err, tc.errContains)
			}
			if tc.flag != "" && c.Check() == nil {
				t.Errorf("--shard %s passes Check", tc.flag)
			}
			continue
		}
		if err != nil || k != tc.k || n != tc.n {
			t.Errorf("%v %s: shard %d/%d (%v), want %d/%d", tc.env, tc.flag, k, n, err, tc.k, tc.n)
		}
	}
	// An index past any split (it overflowed to a negative shard, which
	// took no file) is refused as it is read.
	if c, err := LoadEnv(file, []string{"JOB_COMPLETION_INDEX=9223372036854775807"}); err == nil || !strings.Contains(err.Error(), "JOB_COMPLETION_INDEX") {
		k, n, _ := c.Shard()
		t.Errorf("JOB_COMPLETION_INDEX=MaxInt64: shard %d/%d, error %v", k, n, err)
	}
	// --shard given empty (--shard="$SHARD", SHARD unset) is a bad K/N,
	// not "no split": every worker would take every file.
	c, _ := LoadEnv(file, []string{"JOB_COMPLETION_INDEX=0"})
	c.ForceShard("")
	if k, n, err := c.Shard(); err == nil || c.Check() == nil {
		t.Errorf(`--shard "": shard %d/%d, Check %v; want an error`, k, n, c.Check())
	}
	c, _ = LoadEnv(file, []string{"ANONYMIZE_RUN_SHARDS=0", "JOB_COMPLETION_INDEX=1"})
	if !c.JobIndexUnused() {
		t.Errorf("JOB_COMPLETION_INDEX without run.shards is not reported")
	}
}

// TestServeToken: the token comes from token_file without its line
// break; a missing, empty or spaced file is an error naming it, never an
// empty token (no authentication).
func TestServeToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfgFile := writeConfig(t, "")
	for _, tc := range []struct {
		file, want, errContains string
	}{
		{file: write("good", "s3cret\n"), want: "s3cret"},
		{file: write("empty", "\n"), errContains: "empty"},
		{file: write("spaced", "two words\n"), errContains: "spaces"},
		{file: filepath.Join(dir, "missing"), errContains: "missing"},
		{file: dir, errContains: "directory"},
		{file: write("huge", strings.Repeat("x", 1<<20)), errContains: "over"},
		// (a token file that never ends, /dev/zero, is read no further)
		{file: "/dev/zero", errContains: "over"},
	} {
		c, err := LoadEnv(cfgFile, []string{"ANONYMIZE_SERVE_TOKEN_FILE=" + tc.file})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.ServeToken()
		if tc.errContains != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errContains) || !strings.Contains(err.Error(), "serve.token_file") {
				t.Errorf("%s: token %q, error %v; want an error naming serve.token_file and %s", tc.file, tok, err, tc.errContains)
			}
			continue
		}
		if err != nil || tok != tc.want {
			t.Errorf("%s: token %q (%v), want %q", tc.file, tok, err, tc.want)
		}
	}
	// In a file, token_file is relative to the file.
	sub := writeConfig(t, "[serve]\ntoken_file = \"tok\"\n")
	c, err := LoadEnv(sub, nil)
	if err != nil || c.Serve.TokenFile != filepath.Join(filepath.Dir(sub), "tok") {
		t.Errorf("token_file %q (%v), want it beside the config", c.Serve.TokenFile, err)
	}
}

// TestRedacted: what is shown hides the token and URL passwords only.
func TestRedacted(t *testing.T) {
	c := Default()
	c.Serve.Token = "s3cret"
	c.Hub.Mirror = "https://user:pw@files.example/models"
	c.Hub.Catalogs = []string{"https://a:b@hub.example/c.toml", "local.toml"}
	r := c.Redacted()
	if r.Serve.Token == "s3cret" || strings.Contains(r.Hub.Mirror, "pw") || strings.Contains(r.Hub.Catalogs[0], ":b@") || r.Hub.Catalogs[1] != "local.toml" {
		t.Errorf("redacted: token %q mirror %q catalogs %q", r.Serve.Token, r.Hub.Mirror, r.Hub.Catalogs)
	}
	if c.Hub.Catalogs[0] != "https://a:b@hub.example/c.toml" {
		t.Errorf("Redacted changed the config it was called on")
	}
}
