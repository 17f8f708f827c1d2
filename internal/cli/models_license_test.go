package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/testenv"
	"github.com/anonymize/anonymize/models"
)

// TestModelsListShowsLicenses: models list has a LICENSE column, with each
// installed model's licence ("unknown" for a manifest without one) and
// each catalogue model's.
func TestModelsListShowsLicenses(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, "models", "mock", "--out", filepath.Join(dir, "mock")); code != exitOK {
		t.Fatal(stderr)
	}
	code, stdout, stderr := runCLI(t, "models", "list", "--config", repoConfig(t), "--models-dir", dir)
	if code != exitOK {
		t.Fatalf("models list: exit %d: %s", code, stderr)
	}
	want := map[string]string{
		"mock": models.LicenseUnknown, "yunet-n-dynamic": "Apache-2.0", "ultraface-slim-320": "MIT",
		"scrfd-500m-kps": "LicenseRef-InsightFace-non-commercial", "scrfd-2.5g-kps": "LicenseRef-InsightFace-non-commercial",
		"yolov5n-0.5-face": "GPL-3.0-only",
	}
	headers := 0
	for _, l := range strings.Split(stdout, "\n") {
		f := strings.Fields(strings.TrimPrefix(l, "*"))
		if len(f) > 0 && f[0] == "NAME" {
			headers++
			if !strings.Contains(l, "LICENSE") {
				t.Errorf("header %q has no LICENSE column", l)
			}
		}
		if len(f) > 1 {
			if lic, ok := want[f[0]]; ok && strings.Contains(l, " "+lic+" ") {
				delete(want, f[0])
			}
		}
	}
	if headers != 2 || len(want) > 0 {
		t.Errorf("models list: %d headers (want 2); no line shows the licence of %v:\n%s", headers, want, stdout)
	}
}

// TestInstallNonPermissiveLicense: a GPL or non-commercial model is refused
// (exit 2, its licence named, nothing installed) unless --accept-license or
// [hub] accept_licenses accepts it; its manifest then records the licence.
func TestInstallNonPermissiveLicense(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "models")
	file := func(name string) string { return testenv.Shared(t, filepath.Join("models", name, models.ModelFile)) }
	install := func(cfg, name string, extra ...string) (int, string, string) {
		return runCLI(t, append([]string{"models", "install", name, "--config", cfg, "--models-dir", dir, "--file", file(name)}, extra...)...)
	}
	repo := repoConfig(t)
	code, _, stderr := install(repo, "yolov5n-0.5-face")
	if code != exitUsage || !strings.Contains(stderr, "GPL-3.0-only") || !strings.Contains(stderr, "--accept-license") {
		t.Errorf("install without accepting: exit %d, stderr %q; want 2 naming the licence and --accept-license", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "yolov5n-0.5-face")); !os.IsNotExist(err) {
		t.Errorf("a refused model was installed (stat: %v)", err)
	}
	code, _, stderr = install(repo, "yolov5n-0.5-face", "--accept-license")
	if code != exitOK || !strings.Contains(stderr, "GPL-3.0-only") {
		t.Errorf("install --accept-license: exit %d, stderr %q; want 0 and the licence stated", code, stderr)
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, cfg, []byte("[hub]\naccept_licenses = [\"LicenseRef-InsightFace-non-commercial\"]\n"))
	if code, _, stderr := install(cfg, "scrfd-500m-kps"); code != exitOK {
		t.Errorf("install with the licence in accept_licenses: exit %d: %s", code, stderr)
	}
	// accept_licenses accepts the licences it lists, no others.
	if code, _, _ := install(cfg, "yolov5n-0.5-face", "--force"); code != exitUsage {
		t.Errorf("GPL model with only the InsightFace licence accepted: exit %d, want 2", code)
	}
	for name, lic := range map[string]string{"yolov5n-0.5-face": "GPL-3.0-only", "scrfd-500m-kps": "LicenseRef-InsightFace-non-commercial"} {
		m, err := models.ReadManifest(filepath.Join(dir, name))
		if err != nil || m.License != lic {
			t.Errorf("%s: manifest licence %q (%v), want %q", name, m.License, err, lic)
		}
	}
	// A permissive model needs no acceptance.
	if code, _, stderr := install(repo, "ultraface-slim-320"); code != exitOK || strings.Contains(stderr, "licence") {
		t.Errorf("install of an MIT model: exit %d, stderr %q; want 0 and no licence note", code, stderr)
	}
}

// TestAuditRecordsLicense: the audit record's model block names each
// model's licence.
func TestAuditRecordsLicense(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in", "astronaut.png")
	copyFile(t, shared(t, "astronaut.png"), in)
	out, audit := filepath.Join(root, "out"), filepath.Join(root, "audit.json")
	code, _, stderr := runCLI(t, "--config", repoConfig(t), "--model", "yunet-n-dynamic", "--out", out, "--audit", audit, filepath.Dir(in))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	if a := readAudit(t, audit); len(a.Models) != 1 || !strings.Contains(string(data), `"license": "Apache-2.0"`) {
		t.Errorf("audit record: %d models, want 1 with \"license\": \"Apache-2.0\":\n%s", len(a.Models), data)
	}
}

// TestModelsPullLicense: pulling a non-permissive model states its licence
// and, unless it is accepted, downloads nothing (exit 2); with
// --accept-license the same pull installs it.
func TestModelsPullLicense(t *testing.T) {
	data := sharedModel(t, "scrfd-500m-kps")
	sum := sha256Hex(data)
	srv := serveFiles(t, map[string]http.HandlerFunc{"/" + sum: bytesHandler(data)})
	root := t.TempDir()
	cfg := hubConfig(t, root, "")
	code, _, stderr := runCLI(t, "models", "pull", "--mirror", srv.URL, "--config", cfg, "scrfd-500m-kps")
	if code != exitUsage || !strings.Contains(stderr, "LicenseRef-InsightFace-non-commercial") {
		t.Errorf("pull without accepting: exit %d, stderr %q; want 2 naming the licence", code, stderr)
	}
	if got := srv.requests(); len(got) != 0 {
		t.Errorf("a refused pull downloaded %q", got)
	}
	code, stdout, stderr := runCLI(t, "models", "pull", "--accept-license", "--mirror", srv.URL, "--config", cfg, "scrfd-500m-kps")
	if code != exitOK || !strings.Contains(stderr, "not permissive") || !strings.Contains(stdout, "licence LicenseRef-InsightFace-non-commercial") {
		t.Fatalf("pull --accept-license: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if m, err := models.ReadManifest(filepath.Join(root, "models", "scrfd-500m-kps")); err != nil || m.License != "LicenseRef-InsightFace-non-commercial" {
		t.Errorf("installed manifest: licence %q, %v", m.License, err)
	}
}
