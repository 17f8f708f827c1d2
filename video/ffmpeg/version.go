package ffmpeg

import (
	"fmt"
	"os/exec"
	"strings"
)

// Version is the version of the ffmpeg in PATH, as `ffmpeg -version`
// prints it on its first line ("5.1.6-0+deb12u1"); ErrNotInstalled when
// there is none.
func Version() (string, error) {
	path, err := lookFFmpeg("ffmpeg")
	if err != nil {
		return "", err
	}
	out, err := exec.Command(path, "-hide_banner", "-version").Output()
	if err != nil {
		return "", fmt.Errorf("%s -version: %w", path, err)
	}
	return parseVersion(string(out))
}

// parseVersion reads the version from `ffmpeg -version` output.
func parseVersion(out string) (string, error) {
	first, _, _ := strings.Cut(out, "\n")
	f := strings.Fields(first)
	if len(f) < 3 || f[0] != "ffmpeg" || f[1] != "version" {
		return "", fmt.Errorf("ffmpeg -version: unexpected output %q", first)
	}
	return f[2], nil
}
