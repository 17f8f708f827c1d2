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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "fuzz: $pkg $name for $FUZZTIME"
    if ! go test -tags matprofile -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
      # Go 1.26's fuzz coordinator can fail a target at the -fuzztime
      # deadline with a bare "context deadline exceeded" and no input
      # (golang/go#75804, fixed in Go 1.27): that is no finding. A real
      # one writes its input under testdata/fuzz and says so.
      if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
        echo "fuzz: $name: stopped at its deadline with no finding (golang/go#75804)"
        continue
      fi
      cat "$log"; echo "fuzz: $name failed"; exit 1
    fi
  done
done
