package models

// Tests of the catalogues a hub reads: the built-in one, files and URLs
// (loopback servers), merged and checked.

import (
	"bytes"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestHubMergesCatalogues: later catalogues add models and versions; the
// same name and version with the same file points it elsewhere; with
// another file it is an error naming both catalogues.
func TestHubMergesCatalogues(t *testing.T) {
	dir := t.TempDir()
	yunet := builtinEntry(t, "yunet-n-dynamic")

	newer := yunet
	newer.Version = "2024.1"
	newer.URL = "https://hub.example/yunet-2024.onnx"
	renamed := yunet
	renamed.Name = "yunet-local"
	renamed.URL = "https://hub.example/yunet-local.onnx"
	moved := builtinEntry(t, "ultraface-slim-320")
	moved.URL = "https://hub.example/ultraface-slim-320.onnx"
	extra := filepath.Join(dir, "extra.toml")
	writeTestFile(t, extra, catalogTOML(t, newer, renamed, moved))

	h := newHub(t, HubOptions{Catalogs: []string{extra}})
	tests := []struct {
		ref, version, catalog, url string
	}{
		{"yunet-n-dynamic", "2024.1", extra, newer.URL},
		{"yunet-n-dynamic@2023.01", "2023.01", BuiltinSource, yunet.URL},
		{"yunet-n-dynamic@2024.1", "2024.1", extra, newer.URL},
		{"yunet-local", yunet.Version, extra, renamed.URL},
		{"ultraface-slim-320", moved.Version, extra, moved.URL},
	}
	for _, tt := range tests {
		e, err := h.Resolve(tt.ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.ref, err)
			continue
		}
		if e.Version != tt.version || e.Catalog != tt.catalog || e.URL != tt.url {
			t.Errorf("Resolve(%q) = %s from %s (%s), want %s from %s (%s)", tt.ref, e.Version, e.Catalog, e.URL, tt.version, tt.catalog, tt.url)
		}
	}
	if n := len(h.Versions("ultraface-slim-320")); n != 1 {
		t.Errorf("ultraface-slim-320 listed %d times, want once (the later entry replaces the built-in one)", n)
	}

	_, err := h.Resolve("yunet-n-dynamic@9.9")
	if !errors.Is(err, ErrNotInCatalog) || !strings.Contains(err.Error(), "2023.01, 2024.1") {
		t.Errorf("Resolve of an unknown version: %v; want ErrNotInCatalog listing 2023.01, 2024.1", err)
	}
	if _, err := h.Resolve("no-such-model"); !errors.Is(err, ErrNotInCatalog) || !strings.Contains(err.Error(), "no-such-model") {
		t.Errorf("Resolve of an unknown model: %v; want ErrNotInCatalog naming it", err)
	}

	// Another file under the same name and version.
	clash := builtinEntry(t, "yunet-n-dynamic")
	clash.SHA256 = strings.Repeat("ab", 32)
	second := filepath.Join(dir, "second.toml")
	writeTestFile(t, second, catalogTOML(t, clash))
	_, err = NewHub(t.Context(), HubOptions{Catalogs: []string{extra, second}})
	if err == nil || !strings.Contains(err.Error(), BuiltinSource) || !strings.Contains(err.Error(), second) || !strings.Contains(err.Error(), "yunet-n-dynamic@2023.01") {
		t.Errorf("two files as yunet-n-dynamic@2023.01: %v; want an error naming the model and both catalogues", err)
	}
}

func TestHubCatalogueErrors(t *testing.T) {
	dir := t.TempDir()
	good := catalogTOML(t, builtinEntry(t, "yunet-n-dynamic"))
	unknownKey := append(slices.Clone(good), []byte("colour_space = \"srgb\"\n")...)
	badURL := bytes.Replace(good, []byte("https://"), []byte("ftp://"), 1)
	writeTestFile(t, filepath.Join(dir, "unknown.toml"), unknownKey)
	writeTestFile(t, filepath.Join(dir, "badurl.toml"), badURL)
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/unknown.toml":
			w.Write(unknownKey)
		default:
			http.NotFound(w, r)
		}
	})

	tests := []struct {
		name     string
		o        HubOptions
		want     []string
		download bool // ErrDownload
	}{
		{"unknown key in a file", HubOptions{Catalogs: []string{filepath.Join(dir, "unknown.toml")}},
			[]string{"colour_space", filepath.Join(dir, "unknown.toml")}, false},
		{"unknown key at a URL", HubOptions{Catalogs: []string{srv.URL + "/unknown.toml"}},
			[]string{"colour_space", srv.URL + "/unknown.toml"}, false},
		{"url scheme", HubOptions{Catalogs: []string{filepath.Join(dir, "badurl.toml")}},
			[]string{"ftp://", "yunet-n-dynamic", filepath.Join(dir, "badurl.toml")}, false},
		{"missing file", HubOptions{Catalogs: []string{filepath.Join(dir, "nope.toml")}},
			[]string{"nope.toml"}, false},
		{"HTTP 404", HubOptions{Catalogs: []string{srv.URL + "/nope.toml"}},
			[]string{"404", srv.URL + "/nope.toml"}, true},
		{"not http", HubOptions{Catalogs: []string{"file:///etc/catalog.toml"}},
			[]string{"file:///etc/catalog.toml"}, false},
		{"bad mirror", HubOptions{Mirror: "ftp://mirror.example"}, []string{"mirror", "ftp://mirror.example"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHub(t.Context(), tt.o)
			if err == nil {
				t.Fatal("NewHub succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got := errors.Is(err, ErrDownload); got != tt.download {
				t.Errorf("errors.Is(%v, ErrDownload) = %v, want %v", err, got, tt.download)
			}
		})
	}
}

func TestHubCatalogueFromURL(t *testing.T) {
	e := builtinEntry(t, "yunet-n-dynamic")
	e.Name, e.Version = "yunet-org", "7"
	cat := catalogTOML(t, e)
	srv, _ := serve(t, serveBytes(cat))
	h := newHub(t, HubOptions{Catalogs: []string{srv.URL + "/catalog.toml"}})
	got, err := h.Resolve("yunet-org")
	if err != nil {
		t.Fatal(err)
	}
	if got.Catalog != srv.URL+"/catalog.toml" || got.SHA256 != e.SHA256 {
		t.Errorf("yunet-org from %s (sha256 %s), want from %s/catalog.toml", got.Catalog, got.SHA256, srv.URL)
	}
	if n, nb := len(h.Entries()), len(mustBuiltin(t).Models); n != nb+1 {
		t.Errorf("%d entries, want the %d built-in ones and one more", n, nb)
	}
}

// TestHubKeepsTheFilesLicence: a later catalogue listing a built-in model's
// file (same name, version and sha256) may point it elsewhere but cannot
// relabel a licence that is not permissive: yolov5n-0.5-face stays
// GPL-3.0-only, so models pull still asks for --accept-license.
func TestHubKeepsTheFilesLicence(t *testing.T) {
	dir := t.TempDir()
	relabelled := builtinEntry(t, "yolov5n-0.5-face")
	relabelled.License = "MIT"
	relabelled.URL = "https://hub.example/yolov5n-0.5-face.onnx"
	extra := filepath.Join(dir, "extra.toml")
	writeTestFile(t, extra, catalogTOML(t, relabelled))
	e, err := newHub(t, HubOptions{Catalogs: []string{extra}}).Resolve("yolov5n-0.5-face")
	if err != nil {
		t.Fatal(err)
	}
	if e.URL != relabelled.URL || e.License != "GPL-3.0-only" || CheckLicense(e.Entry, nil) == nil {
		t.Errorf("relabelled entry: url %s, licence %s; want the new url and GPL-3.0-only, refused without acceptance", e.URL, e.License)
	}
}

// TestHubErrorsHideURLPasswords: a catalogue URL's password is in no
// error about it.
func TestHubErrorsHideURLPasswords(t *testing.T) {
	_, err := NewHub(t.Context(), HubOptions{Catalogs: []string{"ftp://ann:pw77@hub.example/c.toml"}})
	if err == nil || strings.Contains(err.Error(), "pw77") || !strings.Contains(err.Error(), "hub.example") {
		t.Errorf("error %v: want one naming the catalogue without its password", err)
	}
	// (port 1 of loopback: nothing listens there)
	_, err = NewHub(t.Context(), HubOptions{Catalogs: []string{"http://ann:pw77@127.0.0.1:1/c.toml"}})
	if err == nil || strings.Contains(err.Error(), "pw77") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %v: want one naming the catalogue without its password", err)
	}
	if r := Redacted("https://ann:pw77@hub.example/c.toml"); strings.Contains(r, "pw77") || !strings.Contains(r, "ann") {
		t.Errorf("Redacted: %s", r)
	}
}
