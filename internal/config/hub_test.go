package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAcceptLicenses: [hub] accept_licenses is read as written, and an
// entry that cannot be a licence identifier is refused, naming the key.
func TestAcceptLicenses(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    []string
		wantErr string
	}{
		{"", []string{}, ""},
		{`accept_licenses = ["GPL-3.0-only", "LicenseRef-InsightFace-non-commercial"]`, []string{"GPL-3.0-only", "LicenseRef-InsightFace-non-commercial"}, ""},
		{`accept_licenses = [""]`, nil, "hub.accept_licenses"},
		{`accept_licenses = ["GPL 3"]`, nil, "hub.accept_licenses"},
	} {
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte("[hub]\n"+tc.body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := loadChecked(path)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one naming %s", tc.body, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
		} else if !slices.Equal(c.Hub.AcceptLicenses, tc.want) {
			t.Errorf("%s: accept_licenses %q, want %q", tc.body, c.Hub.AcceptLicenses, tc.want)
		}
	}
}
