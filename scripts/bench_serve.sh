#!/usr/bin/env bash
# Requests per second and latency of `anonymize serve` over loopback: a
# 640x480 and a 1920x1080 JPEG (group_uf2.jpg resized, four faces) sent to
# /v1/anonymize by 1, 4 and 16 clients at once, with the service's default
# settings (one image per core at once, 32 waiting). The load generator is
# scripts/servebench. Results go to docs/BENCHMARKS.md ("Service") by hand,
# with the machine they ran on.
#
#   scripts/bench_serve.sh                 # 10 s per row
#   DURATION=30s ENDPOINT=/v1/detect scripts/bench_serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null 2>&1 || scripts/setup.sh
SHARED=${ANONYMIZE_SHARED:-../shared}
PORT=${PORT:-18080}
DURATION=${DURATION:-10s}
ENDPOINT=${ENDPOINT:-/v1/anonymize}
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/servebench" ./scripts/servebench
for size in 640x480 1920x1080; do
  ffmpeg -nostdin -loglevel error -i "$SHARED/data/faces/group_uf2.jpg" -vf "scale=${size/x/:}" -q:v 3 "$work/$size.jpg"
done

./anonymize serve --listen "127.0.0.1:$PORT" --quiet &
pid=$!
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "bench_serve: the service did not start" >&2; exit 1; }
  sleep 0.1
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "endpoint: $ENDPOINT, $DURATION per row, model: $(curl -fs "http://127.0.0.1:$PORT/v1/models" | grep -m1 '"name"' | cut -d'"' -f4)"
echo
echo "| image | clients | requests/s | p50 ms | p90 ms | p99 ms | 503 | failed |"
echo "|---|---|---|---|---|---|---|---|"
for size in 640x480 1920x1080; do
  for c in 1 4 16; do
    "$work/servebench" -url "http://127.0.0.1:$PORT$ENDPOINT" -file "$work/$size.jpg" -label "$size" -c "$c" -d "$DURATION"
  done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
