#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs every test on the real
# parts: OpenCV, ONNX Runtime, the installed models and the shared photos.
# Tests run with gocv's matprofile tag, so a leaked Mat fails them. Then it
# builds the Debian package and checks what it holds and depends on.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "test: go vet"
go vet -tags matprofile ./...
echo "test: go test -tags matprofile ./..."
go test -tags matprofile -count=1 -timeout 20m "$@" ./...
echo "test: the Debian package: scripts/package.sh --check (dpkg-deb -c and -I)"
scripts/package.sh --check
echo "test: fuzz targets, ${FUZZTIME:-10s} each (scripts/fuzz.sh)"
scripts/fuzz.sh
