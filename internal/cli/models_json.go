package cli

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/anonymize/anonymize/internal/config"
	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/models"
)

// modelListing is one model of `models list --json`: a catalogue entry,
// an installed folder, or both when the folder holds the entry's version.
type modelListing struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Adapter     string `json:"adapter"`
	Description string `json:"description,omitempty"`
	License     string `json:"license,omitempty"` // the manifest's (installed), else the catalogue's
	// Dir is the installed folder ("" when not installed).
	Dir       string `json:"dir,omitempty"`
	Installed bool   `json:"installed"`
	// Configured: the config's model (or an alias of it) names the folder.
	Configured bool `json:"configured"`
	// Size and SHA256 are model.onnx's: of the installed file, else the
	// catalogue's.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Catalog is the catalogue listing this version ("" when none does).
	Catalog string `json:"catalog,omitempty"`
	// State is active (installed and configured), installed, available
	// (in a catalogue, not installed), local (installed, in no
	// catalogue) or broken (a folder whose manifest cannot be read).
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// writeModelsJSON prints every installed folder and catalogue entry as a
// JSON array: catalogue entries first, in catalogue order, then the
// installed folders no catalogue lists.
func writeModelsJSON(w io.Writer, cfg config.Config, installed []models.Installed, entries []models.HubEntry) error {
	out := []modelListing{}
	taken := map[string]bool{} // folders listed with their catalogue entry
	for _, e := range entries {
		l := modelListing{Name: e.Name, Version: e.Version, Adapter: e.Adapter, Description: e.Description, License: e.License,
			Size: e.Size, SHA256: e.SHA256, Catalog: models.Redacted(e.Catalog), State: "available"}
		for _, in := range installed {
			if in.Err == nil && filepath.Base(in.Dir) == e.Name && in.Manifest.Version == e.Version {
				l = installedListing(cfg, in, l)
				taken[in.Dir] = true
			}
		}
		out = append(out, l)
	}
	for _, in := range installed {
		if !taken[in.Dir] {
			out = append(out, installedListing(cfg, in, modelListing{State: "local"}))
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// installedListing is l with the installed folder in's facts.
func installedListing(cfg config.Config, in models.Installed, l modelListing) modelListing {
	l.Dir, l.Installed, l.Configured = in.Dir, true, cfg.Configured(in.Dir)
	if in.Err != nil {
		l.Name, l.State, l.Error = filepath.Base(in.Dir), "broken", in.Err.Error()
		return l
	}
	m := in.Manifest
	l.Name, l.Version, l.Adapter, l.Description, l.License = m.Name, m.Version, m.Adapter, m.Description, m.License
	onnx := filepath.Join(in.Dir, "model.onnx")
	if st, err := os.Stat(onnx); err == nil {
		l.Size = st.Size()
	}
	if sum, err := fsutil.FileSHA256(onnx); err == nil {
		l.SHA256 = sum
	}
	if l.Catalog != "" {
		l.State = "installed"
	}
	if l.Configured {
		l.State = "active"
	}
	return l
}
