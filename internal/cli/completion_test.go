package cli

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionBash sources the generated script in a real bash and
// completes the way a user's Tab does.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("bash is not installed: %v", err)
	}
	code, script, stderr := runCLI(t, "completion", "bash")
	if code != exitOK {
		t.Fatalf("completion bash: exit %d; stderr:\n%s", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "anonymize.bash")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ words, want string }{
		{"anonymize mo", "models"},
		{"anonymize models ''", "list pull install verify rm mock"},
		{"anonymize --sty", "--style"},
		{"anonymize -c x.toml ser", "serve"},
		{"anonymize serve --lis", "--listen"},
		{"anonymize --out ''", ""},    // a flag's value: file names (complete -o default)
		{"anonymize ./photos ''", ""}, // after a path no command follows
		{"anonymize completion ''", ""},
	} {
		prog := "source " + path + `; COMP_WORDS=(` + tc.words + `); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _anonymize; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, "--norc", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", tc.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("completing %q: %q, want %q", tc.words, got, tc.want)
		}
	}
}

func TestCompletionShells(t *testing.T) {
	for sh, want := range map[string]string{"zsh": "compdef _anonymize anonymize", "fish": "complete -c anonymize"} {
		code, script, stderr := runCLI(t, "completion", sh)
		if code != exitOK || !strings.Contains(script, want) || !strings.Contains(script, "models") {
			t.Errorf("completion %s: exit %d, want a script with %q; stderr: %s\n%s", sh, code, want, stderr, script)
		}
	}
	if code, _, stderr := runCLI(t, "completion", "tcsh"); code != exitUsage || !strings.Contains(stderr, "tcsh") {
		t.Errorf("completion tcsh: exit %d, want 2 naming the shell; stderr: %s", code, stderr)
	}
}

func TestManPage(t *testing.T) {
	code, page, stderr := runCLI(t, "man")
	if code != exitOK {
		t.Fatalf("man: exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{".TH anonymize 1", "--out", "completion"} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
}

// TestCompletionZsh runs the zsh script's completion function in a real
// zsh, with compadd and _files standing in for the completion system.
func TestCompletionZsh(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skipf("zsh is not installed: %v", err)
	}
	_, script, _ := runCLI(t, "completion", "zsh")
	path := filepath.Join(t.TempDir(), "_anonymize")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ words, want string }{
		{"anonymize models ''", "compadd list pull install verify rm mock\n_files"},
		{"anonymize serve --lis", "compadd " + strings.Join(completionFlags(t, "serve"), " ")},
		{"anonymize --out ''", "_files"},
		{"anonymize ./photos ''", "_files"},
	} {
		prog := `compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -r -- "compadd $*"; }; _files() { print _files; }
source ` + path + `; words=(` + tc.words + `); CURRENT=${#words}; PREFIX=${words[CURRENT]}; _anonymize`
		out, err := exec.Command(zsh, "-f", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", tc.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("completing %q in zsh: %q, want %q", tc.words, got, tc.want)
		}
	}
}

// completionFlags is what the completion table offers after "-" under path.
func completionFlags(t *testing.T, path string) []string {
	for _, n := range completionTree(newApp(Env{Stdout: io.Discard, Stderr: io.Discard})) {
		if n.path == path {
			return n.flags
		}
	}
	t.Fatalf("no command %q in the completion table", path)
	return nil
}
