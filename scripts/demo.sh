#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then anonymizes a sample folder:
# a few real photos from ../shared/data, copied into demo/photos (a subfolder
# included), written to demo/photos_anonymized. Open that folder to look.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
SRC=${ANONYMIZE_SAMPLES:-../shared/data/faces}
[ -d "$SRC" ] || { echo "demo: no sample photos at $SRC (set ANONYMIZE_SAMPLES to a folder of photos)" >&2; exit 1; }
rm -rf demo && mkdir -p demo/photos/group
for f in astronaut.png messi5.jpg portrait_mpface.jpg; do [ -f "$SRC/$f" ] && cp "$SRC/$f" demo/photos/; done
for f in group_uf2.jpg crowd_uf1.jpg; do [ -f "$SRC/$f" ] && cp "$SRC/$f" demo/photos/group/; done
[ -n "$(ls -A demo/photos)" ] || cp "$SRC"/*.jpg demo/photos/ 2>/dev/null || true
./anonymize --audit demo/audit.json demo/photos
echo "demo: anonymized copies are in demo/photos_anonymized/ (audit record: demo/audit.json)"
