#!/usr/bin/env bash
# Checks a built package without installing it: dpkg-deb -c must list the
# binary, the ONNX Runtime library, the default models, the config, the
# systemd units, the man page and the completions; dpkg-deb -I must declare
# the OpenCV runtime libraries (not -dev) and ffmpeg, and the conffile.
#   scripts/package/check.sh dist/anonymize_VERSION_amd64.deb
set -euo pipefail
DEB=${1:?usage: check.sh PACKAGE.deb}
fail() { printf 'package check: %s: %s\n' "$DEB" "$*" >&2; exit 1; }
files=$(dpkg-deb -c "$DEB" | awk '{print substr($6, 2)}')
for f in /usr/bin/anonymize /usr/lib/anonymize/libonnxruntime.so.1 \
  /usr/share/anonymize/models/yunet-n-dynamic/model.onnx /usr/share/anonymize/models/yunet-n-dynamic/model.toml \
  /usr/share/anonymize/models/yunet-s-640-opencvzoo-2023mar/model.onnx \
  /etc/anonymize/config.toml /lib/systemd/system/anonymize-serve.service \
  /lib/systemd/system/anonymize-watch@.service /lib/systemd/system/anonymize-live@.service \
  /usr/share/man/man1/anonymize.1.gz /usr/share/bash-completion/completions/anonymize \
  /usr/share/zsh/vendor-completions/_anonymize /usr/share/fish/vendor_completions.d/anonymize.fish \
  /usr/share/doc/anonymize/copyright; do
  grep -qxF "$f" <<<"$files" || fail "does not hold $f"
done
depends=$(dpkg-deb -f "$DEB" Depends)
for d in libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 libopencv-videoio406 ffmpeg; do
  grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends: lacks $d ($depends)"
done
grep -q -- '-dev' <<<"$depends" && fail "Depends: names a -dev package ($depends)"
dpkg-deb -I "$DEB" conffiles | grep -qxF /etc/anonymize/config.toml || fail "/etc/anonymize/config.toml is not a conffile"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./etc/anonymize/config.toml |
  grep -q '^library = "/usr/lib/anonymize/libonnxruntime.so.1"$' || fail "the packaged config does not name the packaged ONNX Runtime"
echo "package check: $DEB: $(wc -l <<<"$files") paths, Depends: $depends"
