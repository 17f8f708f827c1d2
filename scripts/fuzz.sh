#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzX in a _test.go file) for a short,
# fixed time: FUZZTIME (default 10s) each. The corpus found worth keeping
# lives in each package's testdata/fuzz/FuzzX/ and is replayed by every
# plain `go test` too. Run after scripts/setup.sh (the cgo packages need
# OpenCV). A failing input is written to testdata/fuzz/FuzzX/ and fails the
# script: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "fuzz: $pkg $name for $FUZZTIME"
    go test -tags matprofile -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/anonymize-fuzz.log 2>&1 ||
      { cat /tmp/anonymize-fuzz.log; echo "fuzz: $name failed"; exit 1; }
  done
done
