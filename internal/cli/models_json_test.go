package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/anonymize/anonymize/internal/fsutil"
	"github.com/anonymize/anonymize/models/mock"
)

// TestModelsListJSON: `models list --json` is one JSON array in which the
// configured face model is installed and active, with the sha256 and size
// of its model.onnx; a folder no catalogue lists is local, a broken one
// says why; catalogue entries not installed are available.
func TestModelsListJSON(t *testing.T) {
	modelsDir := t.TempDir()
	copyFaceModel(t, modelsDir)
	if err := mock.Write(filepath.Join(modelsDir, "mock")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(modelsDir, "broken", "model.toml"), []byte("name = [\n"))
	cfg := testConfig(t, modelsDir, "yunet-n-dynamic", false, "", "")
	code, stdout, stderr := runCLI(t, "models", "list", "--json", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	var list []modelListing
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, stdout)
	}
	by := map[string]modelListing{}
	for _, m := range list {
		by[m.Name] = m
	}
	face := by["yunet-n-dynamic"]
	sum, err := fsutil.FileSHA256(filepath.Join(modelsDir, "yunet-n-dynamic", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(modelsDir, "yunet-n-dynamic", "model.onnx"))
	if face.State != "active" || !face.Configured || !face.Installed || face.SHA256 != sum || face.Size != st.Size() ||
		face.Version != "2023.01" || face.Adapter != "yunet" || face.Catalog == "" {
		t.Errorf("yunet-n-dynamic: %+v; want active, configured, installed, sha256 %s, size %d, version 2023.01 from a catalogue", face, sum, st.Size())
	}
	if m := by["mock"]; m.State != "local" || m.Configured || !m.Installed || m.Dir != filepath.Join(modelsDir, "mock") || len(m.SHA256) != 64 {
		t.Errorf("mock: %+v; want local, installed, not configured, in %s with a sha256", m, filepath.Join(modelsDir, "mock"))
	}
	if b := by["broken"]; b.State != "broken" || b.Error == "" {
		t.Errorf("broken folder: %+v; want state broken with the error", b)
	}
	if s := by["yunet-s-640-opencvzoo-2023mar"]; s.State != "available" || s.Installed || s.SHA256 == "" || s.Size == 0 {
		t.Errorf("catalogue entry not installed: %+v; want available with the catalogue's sha256 and size", s)
	}
}
