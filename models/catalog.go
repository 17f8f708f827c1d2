package models

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"crypto/sha256"
	"encoding/hex"

	"github.com/BurntSushi/toml"
)

//go:embed catalog.toml
var builtinCatalog []byte

// Entry is one catalogue model: where its ONNX file comes from and the
// manifest that makes it a working model folder.
type Entry struct {
	Manifest
	URL    string `toml:"url"`
	SHA256 string `toml:"sha256"`
	Size   int64  `toml:"size"`
	// Converted, when set, says how the model file (SHA256, Size) is made
	// from the file at URL, which is the upstream original: `models pull`
	// then needs a mirror holding the converted file, or `models install
	// --file` a converted copy.
	Converted string `toml:"converted,omitempty"`
}

// entrySource is Entry's own fields, without methods, for
// Manifest.tomlValue.
type entrySource struct {
	URL       string `toml:"url"`
	SHA256    string `toml:"sha256"`
	Size      int64  `toml:"size"`
	Converted string `toml:"converted,omitempty"`
}

func (e Entry) tomlValue() any {
	return e.Manifest.tomlValue(entrySource{e.URL, e.SHA256, e.Size, e.Converted})
}

// MarshalTOML writes the entry as a [[model]] table's contents, the
// adapter's options under [model.ADAPTER] when inside a Catalog.
func (e Entry) MarshalTOML() ([]byte, error) {
	var b bytes.Buffer
	err := toml.NewEncoder(&b).Encode(e.tomlValue())
	return b.Bytes(), err
}

// Catalog is a list of installable models.
type Catalog struct {
	Models []Entry `toml:"model"`
}

// MarshalTOML writes the catalogue as ParseCatalog reads it.
func (c Catalog) MarshalTOML() ([]byte, error) {
	doc := struct {
		Models []any `toml:"model"`
	}{}
	for _, e := range c.Models {
		doc.Models = append(doc.Models, e.tomlValue())
	}
	var b bytes.Buffer
	err := toml.NewEncoder(&b).Encode(doc)
	return b.Bytes(), err
}

// BuiltinCatalog is the catalogue shipped inside the binary.
func BuiltinCatalog() (Catalog, error) {
	return ParseCatalog(builtinCatalog, "builtin catalog.toml")
}

// ParseCatalog reads a catalogue strictly: unknown keys are errors.
func ParseCatalog(data []byte, name string) (Catalog, error) {
	var c Catalog
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		return c, fmt.Errorf("read catalogue %s: %w", name, err)
	}
	var secs struct {
		Models []map[string]toml.Primitive `toml:"model"`
	}
	smd, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&secs)
	if err != nil {
		return c, fmt.Errorf("read catalogue %s: %w", name, err)
	}
	for i := range c.Models {
		if err := c.Models[i].decodeOptions(&smd, secs.Models[i]); err != nil {
			return c, fmt.Errorf("catalogue %s, model %d (%s): %w", name, i+1, c.Models[i].Name, err)
		}
	}
	if und := unknownKeys(md, smd, 1); len(und) > 0 {
		return c, fmt.Errorf("read catalogue %s: unknown key %s", name, und[0])
	}
	seen := map[string]bool{}
	for i := range c.Models {
		e := &c.Models[i]
		e.setDefaults()
		if err := e.Validate(); err != nil {
			return c, fmt.Errorf("catalogue %s, model %d (%s): %w", name, i+1, e.Name, err)
		}
		if len(e.SHA256) != 64 {
			return c, fmt.Errorf("catalogue %s, model %s: sha256 must be 64 hex digits", name, e.Name)
		}
		if err := checkName(e.Name); err != nil {
			return c, fmt.Errorf("catalogue %s, model %d: %w", name, i+1, err)
		}
		if e.Size < 0 {
			return c, fmt.Errorf("catalogue %s, model %s: size %d must not be negative (0: not checked)", name, e.Name, e.Size)
		}
		if seen[e.Name] {
			return c, fmt.Errorf("catalogue %s: model %s listed twice", name, e.Name)
		}
		seen[e.Name] = true
	}
	return c, nil
}

// FileLicense is the licence the built-in catalogue gives the model file
// with this sha256 ("" when it lists no such file): a manifest edited by
// hand cannot change what the file's authors allow.
func FileLicense(sha256 string) string {
	c, err := BuiltinCatalog()
	if err != nil {
		return ""
	}
	for _, e := range c.Models {
		if strings.EqualFold(e.SHA256, sha256) {
			return e.License
		}
	}
	return ""
}

// Find returns the entry called name.
func (c Catalog) Find(name string) (Entry, bool) {
	for _, e := range c.Models {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// ErrChecksum means a model file does not have the catalogue's sha256.
var ErrChecksum = errors.New("checksum mismatch")

// Install copies the ONNX file at src into modelsDir/NAME after checking its
// size and sha256 against the entry, and writes the entry's manifest beside
// it. The folder appears complete or not at all (built aside, then renamed);
// an existing folder of that name is replaced.
func Install(e Entry, src, modelsDir string) (string, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("install %s: %w", e.Name, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != e.SHA256 {
		return "", fmt.Errorf("install %s from %s: %w: sha256 %s, want %s", e.Name, src, ErrChecksum, got, e.SHA256)
	}
	if e.Size > 0 && int64(len(data)) != e.Size {
		return "", fmt.Errorf("install %s from %s: size %d, want %d", e.Name, src, len(data), e.Size)
	}
	var man bytes.Buffer
	fmt.Fprintf(&man, "# Written by anonymize from its model catalogue; sha256 of model.onnx: %s\n", e.SHA256)
	if err := toml.NewEncoder(&man).Encode(e.Manifest); err != nil {
		return "", fmt.Errorf("install %s: encode manifest: %w", e.Name, err)
	}
	return writeModelDir(modelsDir, e.Name, map[string][]byte{ModelFile: data, ManifestFile: man.Bytes()})
}

// writeModelDir writes files into a new folder beside modelsDir/name, then
// swaps it in.
func writeModelDir(modelsDir, name string, files map[string][]byte) (string, error) {
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	if err := os.MkdirAll(modelsDir, 0o755); err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	tmp, err := os.MkdirTemp(modelsDir, ".install-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	for fn, data := range files {
		if err := writeSynced(filepath.Join(tmp, fn), data); err != nil {
			return "", fmt.Errorf("install %s: %w", name, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	dst := filepath.Join(modelsDir, name)
	old := ""
	if _, err := os.Stat(dst); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dst, old); err != nil {
			return "", fmt.Errorf("install %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		if old != "" {
			os.Rename(old, dst)
		}
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return dst, nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkName refuses a model name that is not a plain folder name: empty,
// hidden, or holding a path separator (it names the model's folder).
func checkName(name string) error {
	if strings.ContainsAny(name, `/\`) || name == "" || name[0] == '.' {
		return fmt.Errorf("bad model name %q (a folder name: no slashes, not starting with a dot)", name)
	}
	return nil
}
