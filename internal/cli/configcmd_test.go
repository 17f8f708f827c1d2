package cli

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/testenv"
)

// TestConfigCheck: config check prints the effective settings (file, then
// ANONYMIZE_* over it) as TOML that loads back to the same settings, with
// the token redacted; a bad value exits 1 naming where it came from, a
// bad command line 2.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "site.toml")
	writeFile(t, file, []byte("models_dir = \"m\"\n[run]\njobs = 1\n[hide]\nstyle = \"solid\"\n[serve]\ntoken = \"s3cret-token\"\n"))
	t.Setenv("ANONYMIZE_RUN_JOBS", "2")

	code, stdout, stderr := runCLI(t, "config", "check", file)
	if code != exitOK {
		t.Fatalf("config check: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"# file: " + file, "# environment: ANONYMIZE_RUN_JOBS", "jobs = 2", `style = "solid"`, `models_dir = "` + filepath.Join(dir, "m") + `"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("config check output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "s3cret") || !strings.Contains(stdout, `token = "REDACTED"`) {
		t.Errorf("the token is not redacted:\n%s", stdout)
	}
	// What it printed is a config file with the same settings.
	printed := filepath.Join(t.TempDir(), "printed.toml")
	writeFile(t, printed, []byte(stdout))
	got, err := config.LoadEnv(printed, nil)
	if err != nil {
		t.Fatalf("the printed settings do not load: %v", err)
	}
	want, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := encodeTOML(t, got.Redacted()), encodeTOML(t, want.Redacted()); a != b {
		t.Errorf("printed settings load as\n%s\nwant\n%s", a, b)
	}

	for _, tc := range []struct {
		name string
		env  [2]string
		args []string
		code int
		want string
	}{
		{"bad variable", [2]string{"ANONYMIZE_RUN_JOBS", "lots"}, []string{file}, exitSomeFailed, "ANONYMIZE_RUN_JOBS"},
		{"unknown variable", [2]string{"ANONYMIZE_RUN_JOBZ", "1"}, []string{file}, exitSomeFailed, "ANONYMIZE_RUN_JOBZ"},
		{"token file missing", [2]string{}, nil, exitSomeFailed, "serve.token_file"},
		{"two files", [2]string{}, []string{file, file}, exitUsage, "one FILE at most"},
		{"missing file", [2]string{}, []string{filepath.Join(dir, "nope.toml")}, exitSomeFailed, "nope.toml"},
	} {
		if tc.env[0] != "" {
			t.Setenv(tc.env[0], tc.env[1])
		}
		args := tc.args
		if args == nil {
			bad := filepath.Join(t.TempDir(), "c.toml")
			writeFile(t, bad, []byte("[serve]\ntoken_file = \"absent\"\n"))
			args = []string{bad}
		}
		code, stdout, stderr := runCLI(t, append([]string{"config", "check"}, args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%s: exit %d, stderr %q, stdout %d bytes; want exit %d naming %q and no settings", tc.name, code, stderr, len(stdout), tc.code, tc.want)
		}
		if tc.env[0] != "" {
			os.Unsetenv(tc.env[0])
		}
	}
}

func encodeTOML(t *testing.T, c config.Config) string {
	t.Helper()
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestServeTokenFile: serve reads its token from serve.token_file (a
// mounted secret), wants it on the API and not on the probes; a token file
// that is empty, or set beside a token, stops it at start (exit 2).
func TestServeTokenFile(t *testing.T) {
	const token = "file-token-0123456789"
	tokFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokFile, []byte(token+"\n"))
	srv := startServe(t, nil, "--config", defaultServeConfig(t, "token_file = "+tomlString(tokFile)))
	jpeg := facePhoto(t, 320, 240, ".jpg")
	if r := srv.post(t, "/v1/detect", "image/jpeg", jpeg); r.status != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", r.status)
	}
	if r := srv.post(t, "/v1/detect", "image/jpeg", jpeg, "Authorization", "Bearer "+token); r.status != http.StatusOK {
		t.Errorf("the file's token: %d, want 200: %s", r.status, r.body)
	}
	if r := srv.get(t, "/readyz"); r.status != http.StatusOK {
		t.Errorf("/readyz without a token: %d", r.status)
	}
	srv.stop(t)

	empty := filepath.Join(t.TempDir(), "empty")
	writeFile(t, empty, []byte("\n"))
	for _, lines := range [][]string{
		{"token_file = " + tomlString(empty)},
		{"token_file = " + tomlString(tokFile), `token = "also"`},
	} {
		code, _, stderr := runCLI(t, "serve", "--config", defaultServeConfig(t, lines...))
		if code != exitUsage || !strings.Contains(stderr, "serve.token_file") || strings.Contains(stderr, "listening") {
			t.Errorf("%v: exit %d, want 2 naming serve.token_file before listening: %s", lines, code, stderr)
		}
	}
}

func tomlString(s string) string {
	var b bytes.Buffer
	toml.NewEncoder(&b).Encode(map[string]string{"v": s})
	return strings.TrimSpace(strings.TrimPrefix(b.String(), "v = "))
}

// TestPrecedence: a flag beats its ANONYMIZE_ variable, which beats the
// config file (docs/CONFIG.md): output.dir set three ways, the photo is
// written where --out says and nowhere else.
func TestPrecedence(t *testing.T) {
	model := testenv.Model(t, "yunet-n-dynamic")
	root := t.TempDir()
	fromFile, fromEnv, fromFlag := filepath.Join(root, "file"), filepath.Join(root, "env"), filepath.Join(root, "flag")
	cfg := testConfig(t, filepath.Dir(model), model, false, "", fmt.Sprintf("[output]\ndir = %q", fromFile))
	in := filepath.Join(root, "in")
	photos, _ := filepath.Glob(filepath.Join(shared(t, "wider-dev"), "*", "*.jpg"))
	if len(photos) == 0 {
		t.Fatal("no photo in wider-dev")
	}
	copyFile(t, photos[0], filepath.Join(in, "a.jpg"))

	t.Setenv("ANONYMIZE_OUTPUT_DIR", fromEnv)
	if code, _, stderr := runCLI(t, "--config", cfg, "--out", fromFlag, in); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(fromFlag, "a.jpg")); err != nil {
		t.Errorf("--out: %v", err)
	}
	for _, dir := range []string{fromEnv, fromFile} {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s was written although --out names another folder", dir)
		}
	}
	if code, _, stderr := runCLI(t, "--config", cfg, in); code != exitOK {
		t.Fatalf("without --out: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(fromEnv, "a.jpg")); err != nil {
		t.Errorf("ANONYMIZE_OUTPUT_DIR over the file's output.dir: %v", err)
	}
	if _, err := os.Stat(fromFile); err == nil {
		t.Errorf("%s was written although ANONYMIZE_OUTPUT_DIR names another folder", fromFile)
	}
}

// TestConfigCheckShard: config check says which shard of a split folder
// run this worker takes, or why a folder run would refuse to start.
func TestConfigCheckShard(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.toml")
	writeFile(t, file, []byte("[run]\nshards = 3\n"))
	for _, tc := range []struct{ index, want string }{
		{"", "# shard: a folder run refuses to start: run.shards = 3: say which shard"},
		{"1", "# shard: 2/3 "},
		{"5", "# shard: a folder run refuses to start: JOB_COMPLETION_INDEX=5 is outside"},
	} {
		if tc.index != "" {
			t.Setenv("JOB_COMPLETION_INDEX", tc.index)
		}
		code, stdout, stderr := runCLI(t, "config", "check", file)
		if code != exitOK || !strings.Contains(stdout, tc.want) {
			t.Errorf("JOB_COMPLETION_INDEX=%q: exit %d, want 0 and %q:\n%s%s", tc.index, code, tc.want, stdout, stderr)
		}
	}
}
