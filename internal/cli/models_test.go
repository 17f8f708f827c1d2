package cli

// Tests of `anonymize models ...` against loopback HTTP servers (httptest
// listens on 127.0.0.1) serving the real model files of ../shared/models.
// Each test has its own config.toml and models folder; none touches the
// network or the repository's models folder.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
	"github.com/anonymize/anonymize/models/mock"
)

// ---- helpers ---------------------------------------------------------------

// hubConfig writes root/config.toml: models in root/models (written
// relative, as users do), the ONNX Runtime library, the CPU provider, and
// extra lines (a [hub] table).
func hubConfig(t *testing.T, root, extra string) string {
	t.Helper()
	path := filepath.Join(root, "config.toml")
	writeFile(t, path, []byte(fmt.Sprintf("models_dir = \"models\"\n%s\n[runtime]\nlibrary = %s\nproviders = [\"cpu\"]\n",
		extra, strconv.Quote(testenv.ORTLibrary(t)))))
	return path
}

func sharedModel(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(testenv.Shared(t, filepath.Join("models", name, models.ModelFile)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func catalogueEntry(t *testing.T, name string) models.Entry {
	t.Helper()
	c, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := c.Find(name)
	if !ok {
		t.Fatalf("the built-in catalogue has no %s", name)
	}
	return e
}

func catalogueTOML(t *testing.T, entries ...models.Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(models.Catalog{Models: entries}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha256Hex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// loopback serves files by path; requests lists the paths asked for.
type loopback struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func serveFiles(t *testing.T, files map[string]http.HandlerFunc) *loopback {
	t.Helper()
	lb := &loopback{}
	lb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lb.mu.Lock()
		lb.paths = append(lb.paths, r.URL.Path)
		lb.mu.Unlock()
		if h, ok := files[r.URL.Path]; ok {
			h(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(lb.Close)
	return lb
}

func (lb *loopback) requests() []string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return slices.Clone(lb.paths)
}

func bytesHandler(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}
}

// checkFourFaces runs `anonymize --model yunet-n-dynamic` with cfg on the
// 4-person photo and checks that it used the model file with sha256 sum and
// hid 4 faces.
func checkFourFaces(t *testing.T, cfg, sum string) {
	t.Helper()
	root := t.TempDir()
	in := filepath.Join(root, "in", "group_uf2.jpg")
	copyFile(t, shared(t, "group_uf2.jpg"), in)
	audit := filepath.Join(root, "audit.json")
	code, _, stderr := runCLI(t, "--config", cfg, "--model", "yunet-n-dynamic", "--style", "solid", "--audit", audit,
		"--out", filepath.Join(root, "out"), in)
	if code != exitOK {
		t.Fatalf("anonymize --model yunet-n-dynamic: exit %d; stderr:\n%s", code, stderr)
	}
	a := readAudit(t, audit)
	if len(a.Models) != 1 || a.Models[0].Name != "yunet-n-dynamic" || a.Models[0].SHA256 != sum {
		t.Errorf("audit models %+v, want yunet-n-dynamic with sha256 %s", a.Models, sum)
	}
	if im := a.image(t, in); im.Status != "done" || len(im.Detections) != 4 {
		t.Errorf("group_uf2.jpg: status %q, %d detections, want 4 faces hidden", im.Status, len(im.Detections))
	}
}

// modelsFolder lists the names in dir, hidden ones (leftovers) included.
func modelsFolder(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// ---- help ------------------------------------------------------------------

func TestModelsCommandsHaveHelp(t *testing.T) {
	app := newApp(Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	var modelsCmd *cli.Command
	for _, c := range app.Commands {
		if c.Name == "models" {
			modelsCmd = c
		}
	}
	if modelsCmd == nil {
		t.Fatal("no models command")
	}
	want := map[string][]string{
		"list": {"config", "models-dir"}, "pull": {"config", "models-dir", "mirror", "quiet"},
		"install": {"config", "models-dir", "file"}, "verify": {"config", "providers"},
		"rm": {"config", "models-dir"}, "mock": {"out"},
	}
	for _, c := range modelsCmd.Subcommands {
		flags, ok := want[c.Name]
		if !ok {
			continue
		}
		delete(want, c.Name)
		if strings.TrimSpace(c.Usage) == "" {
			t.Errorf("models %s: no Usage", c.Name)
		}
		for _, f := range c.Flags {
			if df, ok := f.(cli.DocGenerationFlag); !ok || strings.TrimSpace(df.GetUsage()) == "" {
				t.Errorf("models %s: flag --%s has no Usage", c.Name, f.Names()[0])
			}
			flags = slices.DeleteFunc(flags, func(n string) bool { return n == f.Names()[0] })
		}
		if len(flags) > 0 {
			t.Errorf("models %s: no flags %q", c.Name, flags)
		}
		if c.Name != "list" && c.Name != "mock" && c.ArgsUsage == "" {
			t.Errorf("models %s: no ArgsUsage", c.Name)
		}
	}
	for name := range want {
		t.Errorf("no command models %s", name)
	}
	code, stdout, stderr := runCLI(t, "models", "pull", "--help")
	if code != exitOK || !strings.Contains(stdout, "--mirror") || !strings.Contains(stdout, "NAME[@VERSION]") {
		t.Errorf("models pull --help: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// ---- pull ------------------------------------------------------------------

// TestModelsPullMirror is the "done when": against a folder of
// files named by their sha256, `models pull --mirror URL yunet-n-dynamic`
// installs a model that `anonymize --model yunet-n-dynamic` then uses.
func TestModelsPullMirror(t *testing.T) {
	data := sharedModel(t, "yunet-n-dynamic")
	sum := sha256Hex(data)
	mirror := t.TempDir()
	writeFile(t, filepath.Join(mirror, sum), data)
	var mu sync.Mutex
	var paths []string
	files := http.FileServer(http.Dir(mirror))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	root := t.TempDir()
	cfg := hubConfig(t, root, "")
	// Not installed yet: the run is refused.
	if code, _, stderr := runCLI(t, "--config", cfg, "--model", "yunet-n-dynamic", shared(t, "group_uf2.jpg")); code != exitUsage {
		t.Fatalf("before the pull: exit %d, want %d (no such model); stderr:\n%s", code, exitUsage, stderr)
	}

	code, stdout, stderr := runCLI(t, "models", "pull", "--mirror", srv.URL, "--config", cfg, "yunet-n-dynamic")
	if code != exitOK {
		t.Fatalf("models pull: exit %d; stderr:\n%s", code, stderr)
	}
	dst := filepath.Join(root, "models", "yunet-n-dynamic")
	if want := "installed yunet-n-dynamic 2023.01 (yunet, licence Apache-2.0) in " + dst + ", from " + srv.URL + "/" + sum; strings.TrimSpace(stdout) != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("stderr is not a terminal: want no progress bar, got %q", stderr)
	}
	mu.Lock()
	if !slices.Equal(paths, []string{"/" + sum}) {
		t.Errorf("mirror requests %q, want /%s once", paths, sum)
	}
	mu.Unlock()
	checkFourFaces(t, cfg, sum)

	// Pulled again, the installed version stays as it is, a local edit of
	// its model.toml included; --force installs it again.
	manifest := filepath.Join(dst, "model.toml")
	edited := append(readFile(t, manifest), "\n# edited here\n"...)
	writeFile(t, manifest, edited)
	code, stdout, stderr = runCLI(t, "models", "pull", "--mirror", srv.URL, "--config", cfg, "yunet-n-dynamic")
	if code != exitOK || !strings.Contains(stdout, "already installed") {
		t.Errorf("pull of the installed version: exit %d, stdout %q, stderr %q; want 0 saying it is already installed", code, stdout, stderr)
	}
	if !bytes.Equal(readFile(t, manifest), edited) {
		t.Error("pull of the installed version replaced the edited model.toml")
	}
	if code, _, stderr := runCLI(t, "models", "pull", "--force", "--mirror", srv.URL, "--config", cfg, "yunet-n-dynamic"); code != exitOK {
		t.Fatalf("models pull --force: exit %d: %s", code, stderr)
	}
	if bytes.Equal(readFile(t, manifest), edited) {
		t.Error("pull --force left the edited model.toml")
	}

	// [hub] mirror in the config does the same.
	root2 := t.TempDir()
	cfg2 := hubConfig(t, root2, "[hub]\nmirror = "+strconv.Quote(srv.URL)+"\n")
	if code, _, stderr := runCLI(t, "models", "pull", "--config", cfg2, "yunet-n-dynamic"); code != exitOK {
		t.Fatalf("models pull with [hub] mirror: exit %d; stderr:\n%s", code, stderr)
	}
	checkFourFaces(t, cfg2, sum)
}

// TestModelsPullCatalogueFile: catalogue files named relative to the config
// point yunet-n-dynamic 2023.01 at a loopback server and add 2024.1 (a
// catalogue lists one version of a model; versions come from several); a
// bare NAME takes the highest version, NAME@VERSION that version.
func TestModelsPullCatalogueFile(t *testing.T) {
	data := sharedModel(t, "yunet-n-dynamic")
	sum := sha256Hex(data)
	srv := serveFiles(t, map[string]http.HandlerFunc{"/a/yunet.onnx": bytesHandler(data), "/b/yunet.onnx": bytesHandler(data)})
	old := catalogueEntry(t, "yunet-n-dynamic")
	old.URL = srv.URL + "/a/yunet.onnx"
	newer := old
	newer.Version, newer.URL = "2024.1", srv.URL+"/b/yunet.onnx"
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "hub", "local.toml"), catalogueTOML(t, old))
	writeFile(t, filepath.Join(root, "hub", "newer.toml"), catalogueTOML(t, newer))
	cfg := hubConfig(t, root, "[hub]\ncatalogs = [\"hub/newer.toml\", \"hub/local.toml\"]\n")
	installed := filepath.Join(root, "models", "yunet-n-dynamic")

	for _, tt := range []struct{ ref, version, path string }{
		{"yunet-n-dynamic", "2024.1", "/b/yunet.onnx"},
		{"yunet-n-dynamic@2023.01", "2023.01", "/a/yunet.onnx"},
	} {
		before := len(srv.requests())
		code, stdout, stderr := runCLI(t, "models", "pull", "--config", cfg, tt.ref)
		if code != exitOK {
			t.Fatalf("models pull %s: exit %d; stderr:\n%s", tt.ref, code, stderr)
		}
		if got := srv.requests()[before:]; !slices.Equal(got, []string{tt.path}) {
			t.Errorf("models pull %s fetched %q, want %s", tt.ref, got, tt.path)
		}
		m, err := models.ReadManifest(installed)
		if err != nil || m.Version != tt.version {
			t.Errorf("models pull %s installed version %q (%v), want %s", tt.ref, m.Version, err, tt.version)
		}
		if !strings.Contains(stdout, "yunet-n-dynamic "+tt.version) {
			t.Errorf("models pull %s: stdout %q does not name version %s", tt.ref, stdout, tt.version)
		}
	}
	checkFourFaces(t, cfg, sum)

	for _, tt := range []struct {
		ref  string
		want []string
	}{
		{"yunet-n-dynamic@9.9", []string{"9.9", "2023.01, 2024.1", "anonymize models list"}},
		{"no-such-model", []string{"no-such-model", "anonymize models list"}},
	} {
		code, _, stderr := runCLI(t, "models", "pull", "--config", cfg, tt.ref)
		if code != exitUsage {
			t.Errorf("models pull %s: exit %d, want %d", tt.ref, code, exitUsage)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("models pull %s: stderr %q does not mention %q", tt.ref, stderr, w)
			}
		}
	}
}

// TestModelsCatalogueURL: a catalogue served over HTTP adds a model that
// list shows with its source and pull installs.
func TestModelsCatalogueURL(t *testing.T) {
	data := sharedModel(t, "yunet-n-dynamic")
	e := catalogueEntry(t, "yunet-n-dynamic")
	e.Name, e.Version, e.Description = "yunet-org", "1.0", "the organisation's face model"
	files := map[string]http.HandlerFunc{"/models/yunet.onnx": bytesHandler(data)}
	srv := serveFiles(t, files)
	e.URL = srv.URL + "/models/yunet.onnx"
	files["/catalog.toml"] = bytesHandler(catalogueTOML(t, e))
	catURL := srv.URL + "/catalog.toml"
	root := t.TempDir()
	cfg := hubConfig(t, root, "[hub]\ncatalogs = ["+strconv.Quote(catURL)+"]\n")

	listLine := func() string {
		code, stdout, stderr := runCLI(t, "models", "list", "--config", cfg)
		if code != exitOK {
			t.Fatalf("models list: exit %d; stderr:\n%s", code, stderr)
		}
		_, section, ok := strings.Cut(stdout, "catalogue "+catURL+":\n")
		if !ok {
			t.Fatalf("models list does not show the catalogue %s:\n%s", catURL, stdout)
		}
		for _, l := range strings.Split(section, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == "yunet-org" {
				return l
			}
		}
		t.Fatalf("models list shows no yunet-org under %s:\n%s", catURL, stdout)
		return ""
	}
	if l := listLine(); !strings.Contains(l, " - ") || !strings.Contains(l, "the organisation's face model") {
		t.Errorf("before the pull: %q, want it not installed", l)
	}
	code, _, stderr := runCLI(t, "models", "pull", "--config", cfg, "yunet-org")
	if code != exitOK {
		t.Fatalf("models pull yunet-org: exit %d; stderr:\n%s", code, stderr)
	}
	if l := listLine(); !strings.Contains(l, " installed ") {
		t.Errorf("after the pull: %q, want it marked installed", l)
	}
}

func TestModelsCatalogueErrors(t *testing.T) {
	root := t.TempDir()
	cat := filepath.Join(root, "extra.toml")
	writeFile(t, cat, append(catalogueTOML(t, catalogueEntry(t, "yunet-n-dynamic")), "licence = \"MIT\"\n"...))
	cfg := hubConfig(t, root, "[hub]\ncatalogs = [\"extra.toml\"]\n")
	srv := serveFiles(t, nil)
	cfgURL := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, cfgURL, []byte("[hub]\ncatalogs = ["+strconv.Quote(srv.URL+"/gone.toml")+"]\n"))
	// Entries that parse but cannot be right: a negative size, a name that
	// is a path (it names the model's folder).
	negative, escape := catalogueEntry(t, "yunet-n-dynamic"), catalogueEntry(t, "yunet-n-dynamic")
	negative.Size = -5
	escape.Name = "../outside"
	badRoot := t.TempDir()
	writeFile(t, filepath.Join(badRoot, "negative.toml"), catalogueTOML(t, negative))
	writeFile(t, filepath.Join(badRoot, "escape.toml"), catalogueTOML(t, escape))
	cfgNegative := hubConfig(t, badRoot, "[hub]\ncatalogs = [\"negative.toml\"]\n")
	cfgEscape := hubConfig(t, t.TempDir(), "[hub]\ncatalogs = ["+strconv.Quote(filepath.Join(badRoot, "escape.toml"))+"]\n")
	for _, tt := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"models", "list", "--config", cfg}, exitUsage, []string{"licence", cat}},
		{[]string{"models", "pull", "--config", cfg, "yunet-n-dynamic"}, exitUsage, []string{"licence", cat}},
		{[]string{"models", "list", "--config", cfgURL}, exitSomeFailed, []string{"404", srv.URL + "/gone.toml"}},
		{[]string{"models", "pull", "--config", cfg, "--mirror", "ftp://x", "yunet-n-dynamic"}, exitUsage, []string{"--mirror", "ftp://x"}},
		{[]string{"models", "pull", "--config", cfg}, exitUsage, []string{"NAME"}},
		{[]string{"models", "list", "--config", cfgNegative}, exitUsage, []string{"size -5", "negative.toml"}},
		{[]string{"models", "pull", "--config", cfgEscape, "../outside"}, exitUsage, []string{"bad model name", "escape.toml"}},
	} {
		code, _, stderr := runCLI(t, tt.args...)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d; stderr:\n%s", strings.Join(tt.args, " "), code, tt.code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q does not mention %q", strings.Join(tt.args, " "), stderr, w)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "models")); !os.IsNotExist(err) {
		t.Errorf("a refused command made the models folder: %v", err)
	}
}

// TestModelsPullRefused: a bad download exits 1 naming the problem and
// leaves the installed version as it was.
func TestModelsPullRefused(t *testing.T) {
	data := sharedModel(t, "yunet-n-dynamic")
	corrupt := slices.Clone(data)
	corrupt[1000] ^= 1
	srv := serveFiles(t, map[string]http.HandlerFunc{
		"/truncated": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/3])
		},
		"/corrupt": bytesHandler(corrupt),
	})
	root := t.TempDir()
	var catalogs []string
	for _, p := range []string{"truncated", "corrupt", "missing"} {
		e := catalogueEntry(t, "yunet-n-dynamic")
		e.Version, e.URL = "2024."+p, srv.URL+"/"+p
		writeFile(t, filepath.Join(root, p+".toml"), catalogueTOML(t, e))
		catalogs = append(catalogs, strconv.Quote(p+".toml"))
	}
	cfg := hubConfig(t, root, "[hub]\ncatalogs = ["+strings.Join(catalogs, ", ")+"]\n")
	src := filepath.Join(root, "yunet.onnx")
	writeFile(t, src, data)
	if code, _, stderr := runCLI(t, "models", "install", "--config", cfg, "--file", src, "yunet-n-dynamic@2023.01"); code != exitOK {
		t.Fatalf("models install: exit %d; stderr:\n%s", code, stderr)
	}
	before := treeState(t, filepath.Join(root, "models"))
	for _, tt := range []struct{ version, want string }{
		{"2024.truncated", fmt.Sprintf("truncated download: got %d of %d bytes", len(data)/3, len(data))},
		{"2024.corrupt", "checksum mismatch"},
		{"2024.missing", "HTTP 404"},
	} {
		code, stdout, stderr := runCLI(t, "models", "pull", "--config", cfg, "yunet-n-dynamic@"+tt.version)
		if code != exitSomeFailed || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("pull %s: exit %d, stdout %q, stderr %q; want exit %d saying %q", tt.version, code, stdout, stderr, exitSomeFailed, tt.want)
		}
		if after := treeState(t, filepath.Join(root, "models")); !mapsEqual(before, after) {
			t.Errorf("pull %s changed the models folder: %q", tt.version, sortedKeys(after))
		}
	}
	checkFourFaces(t, cfg, sha256Hex(data))
}

// ---- rm and verify -------------------------------------------------------------

func TestModelsRm(t *testing.T) {
	root := t.TempDir()
	cfg := hubConfig(t, root, "model = \"yunet-n-dynamic\"\n")
	for _, name := range []string{"yunet-n-dynamic", "ultraface-slim-320"} {
		file := testenv.Shared(t, filepath.Join("models", name, models.ModelFile))
		if code, _, stderr := runCLI(t, "models", "install", "--config", cfg, "--file", file, name); code != exitOK {
			t.Fatalf("models install %s: exit %d; stderr:\n%s", name, code, stderr)
		}
	}
	modelsDir := filepath.Join(root, "models")
	writeFile(t, filepath.Join(root, "x", models.ModelFile), []byte("outside the models folder"))

	code, stdout, stderr := runCLI(t, "models", "rm", "--config", cfg, "ultraface-slim-320")
	if code != exitOK || !strings.Contains(stdout, "removed ultraface-slim-320") || stderr != "" {
		t.Errorf("models rm ultraface-slim-320: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if got := modelsFolder(t, modelsDir); !slices.Equal(got, []string{"yunet-n-dynamic"}) {
		t.Errorf("models folder after rm: %q, want only yunet-n-dynamic", got)
	}
	before := treeState(t, root)
	for _, tt := range []struct {
		name string
		want string
	}{
		{"ultraface-slim-320", "not installed"},
		{"../x", "not a model name"},
		{"yunet-n-dynamic/..", "not a model name"},
	} {
		code, _, stderr := runCLI(t, "models", "rm", "--config", cfg, tt.name)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("models rm %s: exit %d, stderr %q; want exit %d saying %q", tt.name, code, stderr, exitUsage, tt.want)
		}
	}
	if after := treeState(t, root); !mapsEqual(before, after) {
		t.Errorf("refused rm changed files: %q", sortedKeys(after))
	}
	// Removing the configured model says so.
	code, _, stderr = runCLI(t, "models", "rm", "--config", cfg, "yunet-n-dynamic")
	if code != exitOK || !strings.Contains(stderr, "was the configured model") {
		t.Errorf("models rm of the configured model: exit %d, stderr %q; want a note", code, stderr)
	}
	if got := modelsFolder(t, modelsDir); len(got) != 0 {
		t.Errorf("models folder after removing everything: %q", got)
	}
}

func TestModelsVerify(t *testing.T) {
	root := t.TempDir()
	cfg := hubConfig(t, root, "")
	yunet := testenv.Shared(t, filepath.Join("models", "yunet-n-dynamic", models.ModelFile))
	if code, _, stderr := runCLI(t, "models", "install", "--config", cfg, "--file", yunet, "yunet-n-dynamic"); code != exitOK {
		t.Fatalf("models install: exit %d; stderr:\n%s", code, stderr)
	}
	good := filepath.Join(root, "models", "yunet-n-dynamic")
	for _, arg := range []string{good, "yunet-n-dynamic"} {
		code, stdout, stderr := runCLI(t, "models", "verify", "--config", cfg, arg)
		if code != exitOK {
			t.Fatalf("models verify %s: exit %d; stderr:\n%s", arg, code, stderr)
		}
		for _, w := range []string{"model     yunet-n-dynamic 2023.01", "adapter   yunet", "provider  cpu",
			"input     input float [-1 3 -1 -1]", "output    cls_8 float",
			"canary    found the face in the built-in photo (score ", "ok: ",
			// as a run would load it: its built-in [detectors] bands
			"threshold by box height [[20, 0.1], [0, 0.25]]; hides face"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("models verify %s: stdout does not contain %q:\n%s", arg, w, stdout)
			}
		}
	}

	// The yunet manifest over another model's file: the contract check fails.
	wrongFile := filepath.Join(root, "wrong-file")
	copyFile(t, filepath.Join(good, models.ManifestFile), filepath.Join(wrongFile, models.ManifestFile))
	copyFile(t, testenv.Shared(t, filepath.Join("models", "ultraface-slim-320", models.ModelFile)), filepath.Join(wrongFile, models.ModelFile))
	// An input name the model does not have.
	wrongInput := filepath.Join(root, "wrong-input")
	man, err := os.ReadFile(filepath.Join(good, models.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	renamed := bytes.Replace(man, []byte(`name = "input"`), []byte(`name = "pixels"`), 1)
	if bytes.Equal(renamed, man) {
		t.Fatalf("manifest has no input name to change:\n%s", man)
	}
	writeFile(t, filepath.Join(wrongInput, models.ManifestFile), renamed)
	copyFile(t, yunet, filepath.Join(wrongInput, models.ModelFile))
	// A face model that runs and finds nothing: the canary refuses it.
	blind := filepath.Join(root, "blind")
	writeFile(t, filepath.Join(blind, models.ModelFile), mock.ONNXBlind())
	writeFile(t, filepath.Join(blind, models.ManifestFile), []byte(strings.ReplaceAll(mock.Manifest, `"red"`, `"face"`)))
	for _, tt := range []struct{ dir, want string }{
		{blind, "canary: found no face in the built-in photo"},
		{wrongFile, `output "cls_8": not found`},
		{wrongInput, `input "pixels": not found`},
		{filepath.Join(root, "nowhere"), "nowhere"},
	} {
		code, stdout, stderr := runCLI(t, "models", "verify", "--config", cfg, tt.dir)
		if code != exitSomeFailed || !strings.Contains(stderr, tt.want) || strings.Contains(stdout, "ok: ") {
			t.Errorf("models verify %s: exit %d, stderr %q; want exit %d saying %q", tt.dir, code, stderr, exitSomeFailed, tt.want)
		}
	}
}

// TestModelsPullAlias: `models pull faces` installs every model the alias
// names (the two default face detectors), after which the default runs.
func TestModelsPullAlias(t *testing.T) {
	mirror := t.TempDir()
	for _, m := range []string{"yunet-n-dynamic", "yunet-s-640-opencvzoo-2023mar"} {
		data := sharedModel(t, m)
		writeFile(t, filepath.Join(mirror, sha256Hex(data)), data)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(mirror)))
	t.Cleanup(srv.Close)
	root := t.TempDir()
	cfg := hubConfig(t, root, "")
	code, stdout, stderr := runCLI(t, "models", "pull", "--mirror", srv.URL, "--config", cfg, "faces")
	if code != exitOK || strings.Count(stdout, "installed ") != 2 {
		t.Fatalf("models pull faces: exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	for _, m := range []string{"yunet-n-dynamic", "yunet-s-640-opencvzoo-2023mar"} {
		if _, err := os.Stat(filepath.Join(root, "models", m, "model.onnx")); err != nil {
			t.Errorf("%s not installed: %v", m, err)
		}
	}
	if code, _, stderr := runCLI(t, "--config", cfg, "-q", "--out", filepath.Join(root, "out"), shared(t, "group_uf2.jpg")); code != exitOK {
		t.Errorf("the default after pulling faces: exit %d; stderr:\n%s", code, stderr)
	}
}

// TestModelsVerifyRecall: `models verify --images --boxes` reports recall
// and fails below --min-recall.
func TestModelsVerifyRecall(t *testing.T) {
	cfg := repoConfig(t)
	imgs, boxes := testenv.Shared(t, "data/faces"), testenv.Shared(t, "data/faces/voc_boxes.json")
	code, out, stderr := runCLI(t, "models", "verify", "--config", cfg, "yunet-n-dynamic", "--images", imgs, "--boxes", boxes, "--min-recall", "0.9")
	if code != exitOK || !strings.Contains(out, "recall    1.000 on 43 faces") {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
	}
	code, _, stderr = runCLI(t, "models", "verify", "--config", cfg, "blazeface-front-128", "--images", imgs, "--boxes", boxes, "--min-recall", "0.9")
	if code != exitSomeFailed || !strings.Contains(stderr, "below the minimum") {
		t.Fatalf("exit %d, stderr %q; want 1, below the minimum", code, stderr)
	}
}
