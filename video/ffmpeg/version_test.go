package ffmpeg

import (
	"os/exec"
	"regexp"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers\nbuilt with gcc 12\n", "5.1.6-0+deb12u1"},
		{"ffmpeg version n7.1 Copyright (c) 2000-2024\n", "n7.1"},
		{"avconv version 9\n", ""},
		{"", ""},
	} {
		got, err := parseVersion(tc.out)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("parseVersion(%q) = %q, %v; want %q", tc.out, got, err, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skipf("ffmpeg is not installed: %v", err)
	}
	v, err := Version()
	if err != nil || !regexp.MustCompile(`\d+\.\d+`).MatchString(v) {
		t.Errorf("Version() = %q, %v; want the installed ffmpeg's version", v, err)
	}
}
