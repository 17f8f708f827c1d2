package models

// The model hub: the built-in catalogue plus any catalogues the config
// lists (files or http(s) URLs), and the downloads that turn an entry into
// an installed model folder.

import (
	"archive/tar"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BuiltinSource is the Catalog of entries from the catalogue shipped inside
// the binary.
const BuiltinSource = "builtin"

// Defaults of HubOptions.
const (
	DefaultStallTimeout   = 60 * time.Second
	DefaultCatalogTimeout = 60 * time.Second
	defaultNPMTimeout     = 10 * time.Minute
	maxCatalogBytes       = 16 << 20
)

var (
	// ErrNotInCatalog means no catalogue lists the model (or that version).
	ErrNotInCatalog = errors.New("not in the model catalogues")
	// ErrNotInstalled means the models folder has no such model.
	ErrNotInstalled = errors.New("not installed")
	// ErrBadName means a model name that is a path, not a folder name.
	ErrBadName = errors.New("not a model name")
	// ErrDownload marks a failure to fetch a file or catalogue: the
	// network, an HTTP status, a truncated body, npm. Worth retrying,
	// unlike a bad catalogue.
	ErrDownload = errors.New("download failed")
	// ErrTruncated means a download ended before the catalogue's size.
	ErrTruncated = errors.New("truncated download")
)

// HubEntry is a catalogue entry and the catalogue it came from.
type HubEntry struct {
	Entry
	// Catalog names the catalogue: BuiltinSource, a file path or a URL.
	Catalog string
}

// Ref is NAME@VERSION.
func (e HubEntry) Ref() string { return e.Name + "@" + e.Version }

// HubOptions configure NewHub. The zero value reads only the built-in
// catalogue and fetches from each entry's own URL.
type HubOptions struct {
	// Catalogs are extra catalogue files or http(s) URLs, read after the
	// built-in one, in order.
	Catalogs []string
	// Mirror, an http(s) URL, replaces every entry's URL (npm ones too):
	// each file is fetched as Mirror/<sha256>.
	Mirror string
	// Client makes the HTTP requests; nil: one with connect, TLS and
	// response-header timeouts that follows redirects.
	Client *http.Client
	// StallTimeout fails a download that delivers no byte for this long
	// (the whole download has no limit: models can be large and links
	// slow). 0: DefaultStallTimeout.
	StallTimeout time.Duration
	// CatalogTimeout bounds fetching one catalogue URL. 0:
	// DefaultCatalogTimeout.
	CatalogTimeout time.Duration
	// NPMPack writes the tarball of the npm package spec (PKG@VERSION)
	// into dir; nil runs `npm pack --ignore-scripts`. Tests replace it.
	NPMPack func(ctx context.Context, spec, dir string) error
}

// Hub is the merged view of the catalogues. Later catalogues may add
// models and add versions of a model. The same name and version listed
// twice with the same sha256 is the same file at another address: the later
// entry replaces the earlier (this is how an organisation points the
// built-in models at its own server). With a different sha256 it is an
// error naming both catalogues.
type Hub struct {
	entries []HubEntry
	mirror  string
	client  *http.Client
	stall   time.Duration
	npmPack func(ctx context.Context, spec, dir string) error
}

// NewHub reads the built-in catalogue and then o.Catalogs.
func NewHub(ctx context.Context, o HubOptions) (*Hub, error) {
	h := &Hub{mirror: strings.TrimRight(o.Mirror, "/"), client: o.Client, stall: o.StallTimeout, npmPack: o.NPMPack}
	if h.client == nil {
		h.client = defaultClient()
	}
	if h.stall <= 0 {
		h.stall = DefaultStallTimeout
	}
	if h.npmPack == nil {
		h.npmPack = npmPack
	}
	if o.Mirror != "" {
		if err := checkHTTPURL(o.Mirror); err != nil {
			return nil, fmt.Errorf("hub mirror: %w", err)
		}
	}
	builtin, err := BuiltinCatalog()
	if err != nil {
		return nil, err
	}
	if err := h.add(builtin, BuiltinSource); err != nil {
		return nil, err
	}
	timeout := cmp.Or(o.CatalogTimeout, DefaultCatalogTimeout)
	for _, src := range o.Catalogs {
		data, err := h.readCatalog(ctx, src, timeout)
		if err != nil {
			return nil, err
		}
		c, err := ParseCatalog(data, src)
		if err != nil {
			return nil, err
		}
		if err := h.add(c, src); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone() // proxy from the environment, dial and TLS timeouts
	t.ResponseHeaderTimeout = DefaultStallTimeout
	return &http.Client{Transport: t}
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", Redacted(s))
	}
	return nil
}

func isURL(s string) bool { return strings.Contains(s, "://") }

func (h *Hub) readCatalog(ctx context.Context, src string, timeout time.Duration) ([]byte, error) {
	if !isURL(src) {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("read catalogue: %w", err)
		}
		return data, nil
	}
	if err := checkHTTPURL(src); err != nil {
		return nil, fmt.Errorf("read catalogue: %w (a catalogue is a file or an http(s) URL)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _, err := h.get(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("read catalogue: %w", err)
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, maxCatalogBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read catalogue: %w", &downloadError{src, err})
	}
	if len(data) > maxCatalogBytes {
		return nil, fmt.Errorf("read catalogue %s: larger than %d bytes", Redacted(src), maxCatalogBytes)
	}
	return data, nil
}

// add merges catalogue c, read from src.
func (h *Hub) add(c Catalog, src string) error {
	for _, e := range c.Models {
		if err := checkSource(e.URL); err != nil {
			return fmt.Errorf("catalogue %s, model %s: url: %w", Redacted(src), e.Name, err)
		}
		i := slices.IndexFunc(h.entries, func(o HubEntry) bool { return o.Name == e.Name && o.Version == e.Version })
		if i < 0 {
			h.entries = append(h.entries, HubEntry{e, src})
			continue
		}
		if old := h.entries[i]; old.SHA256 != e.SHA256 {
			return fmt.Errorf("catalogues %s and %s both list %s with different files (sha256 %s and %s)",
				Redacted(old.Catalog), Redacted(src), old.Ref(), old.SHA256, e.SHA256)
		}
		if old := h.entries[i]; !Permissive(old.License) {
			e.License = old.License // the same file: its licence stays, whatever a later catalogue says
		}
		h.entries[i] = HubEntry{e, src}
	}
	return nil
}

// Redacted is s with the password of a URL hidden (url.URL.Redacted); any
// other text as it is.
func Redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	return s
}

// checkSource checks an entry's url: http(s) or npm:PKG@VERSION/PATH.
func checkSource(u string) error {
	if strings.HasPrefix(u, "npm:") {
		_, err := parseNPM(u)
		return err
	}
	if err := checkHTTPURL(u); err != nil {
		return fmt.Errorf("%w (https://... or npm:PACKAGE@VERSION/PATH)", err)
	}
	return nil
}

// Entries lists every entry in catalogue order.
func (h *Hub) Entries() []HubEntry { return slices.Clone(h.entries) }

// Versions lists the entries called name, lowest version first.
func (h *Hub) Versions(name string) []HubEntry {
	var vs []HubEntry
	for _, e := range h.entries {
		if e.Name == name {
			vs = append(vs, e)
		}
	}
	slices.SortFunc(vs, func(a, b HubEntry) int { return CompareVersions(a.Version, b.Version) })
	return vs
}

// Resolve finds NAME (its highest version) or NAME@VERSION (exactly).
func (h *Hub) Resolve(ref string) (HubEntry, error) {
	name, ver, exact := strings.Cut(ref, "@")
	vs := h.Versions(name)
	if len(vs) == 0 {
		return HubEntry{}, fmt.Errorf("model %q: %w", name, ErrNotInCatalog)
	}
	if !exact {
		return vs[len(vs)-1], nil
	}
	var have []string
	for _, e := range vs {
		if e.Version == ver {
			return e, nil
		}
		have = append(have, e.Version)
	}
	return HubEntry{}, fmt.Errorf("model %s version %q: %w (available versions: %s)", name, ver, ErrNotInCatalog, strings.Join(have, ", "))
}

// CompareVersions orders versions by their dot-separated parts, numerically
// where both parts are numbers, else as strings; a version that is a
// prefix of another is lower. Versions equal that way ("1.01", "1.1") are
// ordered as strings, so the order is total.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range min(len(as), len(bs)) {
		x, errx := strconv.ParseUint(as[i], 10, 64)
		y, erry := strconv.ParseUint(bs[i], 10, 64)
		c := 0
		if errx == nil && erry == nil {
			c = cmp.Compare(x, y)
		} else {
			c = strings.Compare(as[i], bs[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Or(cmp.Compare(len(as), len(bs)), strings.Compare(a, b))
}

// Location is where e's file is fetched from: Mirror/<sha256> when a mirror
// is set, else its url.
func (h *Hub) Location(e Entry) string {
	if h.mirror != "" {
		return h.mirror + "/" + e.SHA256
	}
	return e.URL
}

// ErrConverted: the catalogue's file is not the one at its url but made
// from it, so it can only come from a mirror or a local file.
var ErrConverted = errors.New("cannot be pulled from upstream")

// Pull fetches e's file, checks its size and sha256, and installs it as
// modelsDir/NAME (replacing an installed folder of that name only once the
// new one is complete). On any failure nothing is installed, a previously
// installed folder stays as it was and no temporary file is left behind.
// progress, when not nil, is called as bytes arrive (total -1: unknown).
func (h *Hub) Pull(ctx context.Context, e Entry, modelsDir string, progress func(done, total int64)) (string, error) {
	what := e.Name + " " + e.Version
	if !validName(e.Name) {
		return "", fmt.Errorf("pull %s: bad model name %q", what, e.Name)
	}
	if e.Converted != "" && h.mirror == "" {
		return "", fmt.Errorf("pull %s: %w: its model file is made from the upstream file %s (%s); install a converted copy with `anonymize models install %s --file model.onnx`, or set [hub] mirror to a folder or server holding it", what, ErrConverted, e.URL, e.Converted, e.Name)
	}
	_, statErr := os.Stat(modelsDir)
	if err := os.MkdirAll(modelsDir, 0o755); err != nil {
		return "", fmt.Errorf("pull %s: %w", what, err)
	}
	tmp, err := os.CreateTemp(modelsDir, ".pull-"+e.Name+"-*.onnx")
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", what, err)
	}
	defer os.Remove(tmp.Name())
	err = h.Fetch(ctx, e, tmp, progress)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	var dst string
	if err == nil {
		dst, err = Install(e, tmp.Name(), modelsDir)
	}
	if err != nil {
		os.Remove(tmp.Name())
		if errors.Is(statErr, os.ErrNotExist) {
			os.Remove(modelsDir) // made above; removed only if still empty
		}
		return "", fmt.Errorf("pull %s: %w", what, err)
	}
	return dst, nil
}

// Fetch writes e's file to w, checking while it streams: more bytes than
// the catalogue's size stop it at once; fewer, or a body cut short, are
// ErrTruncated ("truncated download: got N of M bytes"); a sha256 other
// than the catalogue's is ErrChecksum. w has then received bytes that must
// not be used: Pull writes them to a temporary file it removes.
func (h *Hub) Fetch(ctx context.Context, e Entry, w io.Writer, progress func(done, total int64)) error {
	src := h.Location(e)
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var body io.ReadCloser
	var announced int64
	var err error
	if strings.HasPrefix(src, "npm:") {
		body, announced, err = h.openNPM(ctx, src)
	} else {
		// The watchdog cancels the request when no byte arrives for
		// h.stall: while waiting for the headers and between reads.
		stalled := fmt.Errorf("no data for %s", h.stall)
		timer := time.AfterFunc(h.stall, func() { cancel(stalled) })
		defer timer.Stop()
		body, announced, err = h.get(ctx, src)
		if err == nil {
			body = &watchedReader{body, func() { timer.Reset(h.stall) }}
		}
	}
	if err != nil {
		return err
	}
	defer body.Close()

	total := e.Size
	if total <= 0 {
		total = announced
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	progress(0, total)
	hash := sha256.New()
	buf := make([]byte, 128<<10)
	var n int64
	for {
		k, rerr := body.Read(buf)
		if k > 0 {
			if e.Size > 0 && n+int64(k) > e.Size {
				return &downloadError{src, fmt.Errorf("larger than the catalogue's size of %d bytes", e.Size)}
			}
			hash.Write(buf[:k])
			if _, err := w.Write(buf[:k]); err != nil {
				return fmt.Errorf("download %s: write: %w", src, err)
			}
			n += int64(k)
			progress(n, total)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if parent.Err() != nil {
				return &downloadError{src, parent.Err()}
			}
			if cause := context.Cause(ctx); cause != nil {
				rerr = cause
			}
			if total > 0 {
				return &downloadError{src, fmt.Errorf("%w: got %d of %d bytes: %v", ErrTruncated, n, total, rerr)}
			}
			return &downloadError{src, fmt.Errorf("%w: got %d bytes: %v", ErrTruncated, n, rerr)}
		}
	}
	if e.Size > 0 && n < e.Size {
		return &downloadError{src, fmt.Errorf("%w: got %d of %d bytes", ErrTruncated, n, e.Size)}
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != e.SHA256 {
		return fmt.Errorf("download %s: %w: sha256 %s, want %s", src, ErrChecksum, got, e.SHA256)
	}
	return nil
}

// get starts a GET of u and returns its body and announced length (-1:
// unknown). Redirects are followed; any final status but 200 is an error.
func (h *Hub) get(ctx context.Context, u string) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, &downloadError{u, err}
	}
	req.Header.Set("User-Agent", "anonymize-model-hub")
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in downloadError's message already
		}
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %v", cause, err)
		}
		return nil, 0, &downloadError{u, err}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, 0, &downloadError{u, fmt.Errorf("HTTP %s", resp.Status)}
	}
	return resp.Body, resp.ContentLength, nil
}

// downloadError is a failed fetch of url; it is ErrDownload and its cause.
type downloadError struct {
	url string
	err error
}

func (e *downloadError) Error() string   { return "download " + Redacted(e.url) + ": " + e.err.Error() }
func (e *downloadError) Unwrap() []error { return []error{ErrDownload, e.err} }

// watchedReader calls tick after every read that returned bytes.
type watchedReader struct {
	io.ReadCloser
	tick func()
}

func (r *watchedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		r.tick()
	}
	return n, err
}

// ---- npm ---------------------------------------------------------------------

// npmRef is npm:PACKAGE@VERSION/PATH: the file PATH inside the package.
type npmRef struct {
	pkg, version, path string
}

func parseNPM(u string) (npmRef, error) {
	rest, ok := strings.CutPrefix(u, "npm:")
	if !ok {
		return npmRef{}, fmt.Errorf("%q is not npm:PACKAGE@VERSION/PATH", u)
	}
	at := strings.Index(rest, "@")
	if strings.HasPrefix(rest, "@") { // @scope/name@version
		at = strings.Index(rest[1:], "@") + 1
	}
	if at <= 0 {
		return npmRef{}, fmt.Errorf("%q: no @VERSION (npm:PACKAGE@VERSION/PATH)", u)
	}
	ver, p, ok := strings.Cut(rest[at+1:], "/")
	r := npmRef{pkg: rest[:at], version: ver, path: p}
	if !ok || r.version == "" || r.path == "" {
		return npmRef{}, fmt.Errorf("%q: no /PATH after the version (npm:PACKAGE@VERSION/PATH)", u)
	}
	if path.IsAbs(r.path) || path.Clean(r.path) != r.path || slices.Contains(strings.Split(r.path, "/"), "..") {
		return npmRef{}, fmt.Errorf("%q: PATH must be a clean relative path inside the package", u)
	}
	return r, nil
}

// openNPM packs the package into a temporary folder and opens PATH inside
// its tarball. Closing the reader removes the folder.
func (h *Hub) openNPM(ctx context.Context, u string) (io.ReadCloser, int64, error) {
	ref, err := parseNPM(u)
	if err != nil {
		return nil, 0, err
	}
	dir, err := os.MkdirTemp("", "anonymize-npm-")
	if err != nil {
		return nil, 0, err
	}
	fail := func(err error) (io.ReadCloser, int64, error) {
		os.RemoveAll(dir)
		return nil, 0, &downloadError{u, err}
	}
	spec := ref.pkg + "@" + ref.version
	pctx, cancel := context.WithTimeout(ctx, defaultNPMTimeout)
	defer cancel()
	if err := h.npmPack(pctx, spec, dir); err != nil {
		return fail(err)
	}
	tgzs, _ := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if len(tgzs) != 1 {
		return fail(fmt.Errorf("npm pack %s left %d tarballs, want 1", spec, len(tgzs)))
	}
	f, err := os.Open(tgzs[0])
	if err != nil {
		return fail(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return fail(fmt.Errorf("npm tarball of %s: %w", spec, err))
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			f.Close()
			if err == io.EOF {
				err = fmt.Errorf("package %s has no file %s", spec, ref.path)
			} else {
				err = fmt.Errorf("npm tarball of %s: %w", spec, err)
			}
			return fail(err)
		}
		// npm tarballs hold the package under one top folder ("package/").
		_, name, _ := strings.Cut(hdr.Name, "/")
		if hdr.Typeflag == tar.TypeReg && name == ref.path {
			return &npmMember{tr, func() error { f.Close(); return os.RemoveAll(dir) }}, hdr.Size, nil
		}
	}
}

type npmMember struct {
	io.Reader
	close func() error
}

func (m *npmMember) Close() error { return m.close() }

// npmPack runs `npm pack --ignore-scripts SPEC` in dir.
func npmPack(ctx context.Context, spec, dir string) error {
	if _, err := exec.LookPath("npm"); err != nil {
		return fmt.Errorf("npm pack %s: npm (Node.js) is not installed; install it, or use a mirror (--mirror, [hub] mirror)", spec)
	}
	cmd := exec.CommandContext(ctx, "npm", "pack", "--ignore-scripts", "--silent", "--pack-destination", dir, spec)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 500 {
			msg = "..." + msg[len(msg)-500:]
		}
		return fmt.Errorf("npm pack %s: %w: %s", spec, err, msg)
	}
	return nil
}

// ---- installed models ----------------------------------------------------------

// Installed is one model folder in a models folder.
type Installed struct {
	Dir      string
	Manifest Manifest
	// Err is why the manifest cannot be read; Manifest is then partial.
	Err error
}

// ListInstalled lists the model folders (those with a model.toml) in
// modelsDir, by folder name; hidden folders are skipped. A missing
// modelsDir holds no models.
func ListInstalled(modelsDir string) ([]Installed, error) {
	ents, err := os.ReadDir(modelsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	var out []Installed
	for _, e := range ents {
		dir := filepath.Join(modelsDir, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		m, err := ReadManifest(dir)
		if errors.Is(err, ErrNoManifest) {
			continue
		}
		out = append(out, Installed{Dir: dir, Manifest: m, Err: err})
	}
	return out, nil
}

func validName(name string) bool {
	return name != "" && name[0] != '.' && !strings.ContainsAny(name, `/\`) && name == filepath.Base(name)
}

// Remove deletes the model folder modelsDir/name: it vanishes at once
// (renamed aside, then deleted). name must be a folder name, not a path;
// a folder without model.toml or model.onnx is not a model and is kept.
// A symbolic link is removed, not what it points to.
func Remove(modelsDir, name string) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("remove %q: %w (a folder name in the models folder, without path separators)", name, ErrBadName)
	}
	dir := filepath.Join(modelsDir, name)
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("remove %s: %w in %s", name, ErrNotInstalled, modelsDir)
	}
	if err != nil {
		return "", fmt.Errorf("remove %s: %w", name, err)
	}
	if st.Mode()&os.ModeSymlink != 0 {
		if err := os.Remove(dir); err != nil {
			return "", fmt.Errorf("remove %s: %w", name, err)
		}
		return dir, nil
	}
	if !st.IsDir() || (!exists(filepath.Join(dir, ManifestFile)) && !exists(filepath.Join(dir, ModelFile))) {
		return "", fmt.Errorf("remove %s: %s is not a model folder (no %s or %s); left as it is", name, dir, ManifestFile, ModelFile)
	}
	aside, err := os.MkdirTemp(modelsDir, ".remove-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.Rename(dir, filepath.Join(aside, name)); err != nil {
		os.Remove(aside)
		return "", fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.RemoveAll(aside); err != nil {
		return dir, fmt.Errorf("remove %s: clean up %s: %w", name, aside, err)
	}
	return dir, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
