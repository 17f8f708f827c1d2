package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogFlags: --log-format json makes every log line a JSON object;
// --log-level filters by level, wherever the flag stands, and an explicit
// level wins over --quiet's; the summary is not a log line and stays.
func TestLogFlags(t *testing.T) {
	cfg := repoConfig(t)
	in := filepath.Join(t.TempDir(), "astronaut.png")
	copyFile(t, shared(t, "astronaut.png"), in)
	run := func(args ...string) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out")
		code, _, stderr := runCLI(t, append([]string{"--config", cfg, "--out", out}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d; stderr:\n%s", args, code, stderr)
		}
		return stderr
	}

	stderr := run("--log-format", "json", in)
	loaded := 0
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "anonymize: ") {
			continue // the summary
		}
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Level == "" || rec.Msg == "" {
			t.Errorf("--log-format json: line is not a JSON log record: %q (%v)", l, err)
		}
		if rec.Msg == "model loaded" {
			loaded++
		}
	}
	if loaded == 0 {
		t.Errorf("--log-format json: no model loaded record:\n%s", stderr)
	}

	if s := run(in, "--log-level=warn"); strings.Contains(s, "model loaded") || !strings.Contains(s, "anonymize: 1 written") {
		t.Errorf("--log-level warn: want no info lines and the summary:\n%s", s)
	}
	if s := run("-q", "--log-level", "info", in); !strings.Contains(s, `msg="model loaded"`) {
		t.Errorf("-q --log-level info: the explicit level should show info lines:\n%s", s)
	}
	if s := run("-q", in); s != "" {
		t.Errorf("-q: stderr not empty:\n%s", s)
	}
}

// TestLogFlagsUsageErrors: a bad --log-format or --log-level is a usage
// error (exit 2) naming the flag, for the main command and subcommands.
func TestLogFlagsUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "loud", "photos"}, `--log-level "loud": want debug, info, warn or error`},
		{[]string{"models", "list", "--log-level", "verbose"}, `--log-level "verbose"`},
		{[]string{"serve", "--log-format=xml"}, `--log-format "xml": want text or json`},
		{[]string{"--log-format"}, "--log-format needs a value"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 saying %q", tc.args, code, stderr, tc.want)
		}
	}
	if code, stdout, stderr := runCLI(t, "models", "list", "--log-format", "json", "--config", repoConfig(t)); code != exitOK || !strings.Contains(stdout, "catalogue") {
		t.Errorf("models list --log-format json: exit %d; stderr %s", code, stderr)
	}
}
