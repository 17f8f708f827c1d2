#!/usr/bin/env bash
# Throughput of whole runs: images per second through ./anonymize (read,
# detect, hide, encode, write) on real photos, at --jobs 1 and 2 and several
# ONNX Runtime thread counts. Per-model inference time: go test -bench Detect ./infer/.
# Results go to docs/BENCHMARKS.md by hand, with the machine they ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null 2>&1 || scripts/setup.sh
SHARED=${ANONYMIZE_SHARED:-../shared}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# voc: 9 photos (about 500x375) copied 10 times, so start-up does not dominate.
mkdir -p "$work/voc"
for i in $(seq 1 10); do for f in "$SHARED"/data/faces/voc/*.jpg; do cp "$f" "$work/voc/$i-$(basename "$f")"; done; done
n_voc=$(ls "$work/voc" | wc -l)
n_wider=$(find "$SHARED/data/faces/wider-dev" -name '*.jpg' | wc -l)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "model: ${MODEL:-faces}"
run() { # name dir n jobs threads
  local s e; s=$(date +%s.%N)
  ./anonymize -q --overwrite --model "${MODEL:-faces}" --out "$work/out" --jobs "$4" --threads "$5" "$2"
  e=$(date +%s.%N)
  printf '%-10s jobs=%s threads=%s  %5.1f images/s  (%d images, %.2f s)\n' "$1" "$4" "$5" "$(echo "$3 / ($e - $s)" | bc -l)" "$3" "$(echo "$e - $s" | bc -l)"
}
for jobs in 1 2; do
  for threads in 1 2; do
    run voc "$work/voc" "$n_voc" "$jobs" "$threads"
    run wider-dev "$SHARED/data/faces/wider-dev" "$n_wider" "$jobs" "$threads"
  done
done
