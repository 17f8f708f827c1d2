package models_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/models"
)

func TestPermissive(t *testing.T) {
	for lic, want := range map[string]bool{
		"Apache-2.0": true, "MIT": true, "BSD-3-Clause": true, "MIT OR Apache-2.0": true, "MIT AND Zlib": true,
		"GPL-3.0-only": false, "GPL-3.0-or-later": false, "AGPL-3.0-only": false, "LicenseRef-InsightFace-non-commercial": false,
		models.LicenseUnknown: false, "": false, "MIT AND GPL-3.0-only": false, "GPL-3.0-only OR MIT": true, "mit": false,
		// Parentheses group: the GPL is required either way.
		"(MIT OR GPL-3.0-only) AND GPL-3.0-only": false, "(MIT OR Apache-2.0) AND Zlib": true, "((MIT))": true,
		"GPL-3.0-only AND (MIT OR Apache-2.0)": false, "MIT AND GPL-3.0-only OR Apache-2.0": true,
		// What does not parse is not permissive.
		"GPL-3.0-only OR (MIT": false, "MIT OR": false, "(MIT": false, "MIT)": false, "MIT Apache-2.0": false,
		"MIT WITH Classpath-exception-2.0": false,
	} {
		if got := models.Permissive(lic); got != want {
			t.Errorf("Permissive(%q) = %v, want %v", lic, got, want)
		}
	}
}

// TestCatalogueLicenses: every built-in entry names its licence; the
// default face models are permissive, and SCRFD and YOLOv5-Face are not,
// so CheckLicense refuses them unless their licence is accepted.
func TestCatalogueLicenses(t *testing.T) {
	cat, err := models.BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cat.Models {
		if e.License == "" || e.License == models.LicenseUnknown {
			t.Errorf("%s: licence %q, want an SPDX identifier", e.Name, e.License)
		}
	}
	for name, lic := range map[string]string{
		"yunet-n-dynamic": "Apache-2.0", "yunet-s-640-opencvzoo-2023mar": "Apache-2.0",
		"scrfd-500m-kps": "LicenseRef-InsightFace-non-commercial", "scrfd-2.5g-kps": "LicenseRef-InsightFace-non-commercial",
		"yolov5n-0.5-face": "GPL-3.0-only",
	} {
		e, ok := cat.Find(name)
		if !ok || e.License != lic {
			t.Errorf("%s: in the catalogue %v, licence %q; want %q", name, ok, e.License, lic)
			continue
		}
		err := models.CheckLicense(e, nil)
		if models.Permissive(lic) != (err == nil) {
			t.Errorf("%s: CheckLicense = %v", name, err)
		}
		if err != nil && (!errors.Is(err, models.ErrLicense) || !strings.Contains(err.Error(), lic)) {
			t.Errorf("%s: error %v, want ErrLicense naming %s", name, err, lic)
		}
		if err := models.CheckLicense(e, []string{"Apache-2.0", lic}); err != nil {
			t.Errorf("%s with its licence accepted: %v", name, err)
		}
	}
}

// TestManifestWithoutLicense: a model.toml written before manifests had a
// licence still loads, its licence "unknown".
func TestManifestWithoutLicense(t *testing.T) {
	m, err := models.ParseManifest([]byte("name = \"old\"\nversion = \"1\"\nadapter = \"yunet\"\n[input]\nname = \"input\"\n"), "old/model.toml")
	if err != nil {
		t.Fatal(err)
	}
	if m.License != models.LicenseUnknown {
		t.Errorf("licence %q, want %q", m.License, models.LicenseUnknown)
	}
}
