#!/usr/bin/env bash
# Video files: frames per second from decoding to the finished file, on the
# three shared videos and on 720p and 1080p clips made from video_02.mp4,
# each next to the transcode-only rate (the same ffmpeg decoder and encoder,
# no detection) measured in the same run, and peak memory of ./anonymize
# (its own and with its ffmpeg children). Prints a Markdown table for
# docs/BENCHMARKS.md ("Video").
#
#   scripts/bench_video.sh                  # libx264 ultrafast, 3 rounds
#   PRESET=veryfast ROUNDS=1 scripts/bench_video.sh
#   CODEC=mpeg4 scripts/bench_video.sh
#
# The fps columns are the best of ROUNDS (other work on the machine only
# ever slows a round down); cpu-ms/frame (this process and its ffmpeg
# children, user + system) is steadier where the cores are shared.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${ANONYMIZE_SHARED:-../shared}
CODEC=${CODEC:-libx264}
PRESET=${PRESET:-ultrafast}
ROUNDS=${ROUNDS:-3}
MAXSIDE=${MAXSIDE:-640}
CLIPS=${CLIPS:-/tmp/anonymize-bench-video} # the 720p/1080p clips, kept for the next run
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

mkdir -p "$CLIPS"
src="$SHARED/data/video/video_02.mp4"
for size in 1280x720 1920x1080; do
  out="$CLIPS/video_02_${size#*x}p.mp4"
  if [ ! -s "$out" ]; then
    echo "making $out" >&2
    ffmpeg -nostdin -v error -y -i "$src" -vf "scale=${size/x/:}" -c:v libx264 -preset fast -crf 20 -c:a copy "$out.tmp.mp4"
    mv "$out.tmp.mp4" "$out"
  fi
done
files=("$SHARED/data/video/video_01.mp4" "$SHARED/data/video/video_02.mp4" "$SHARED/data/video/new_face_video-90.mp4"
  "$CLIPS/video_02_720p.mp4" "$CLIPS/video_02_1080p.mp4")

go build -o "$work/anonymize" .
go test -c -o "$work/video.test" ./video/batch/

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "encoder: $CODEC preset $PRESET; detector input at most ${MAXSIDE} px; ffmpeg $(ffmpeg -version | head -1 | cut -d' ' -f3)" >&2

# Frames per second and CPU per frame, per file and mode, best of ROUNDS.
(IFS=,; BENCH_VIDEOS="${files[*]}" BENCH_CODEC=$CODEC BENCH_PRESET=$PRESET BENCH_MAXSIDE=$MAXSIDE \
  "$work/video.test" -test.run XXX -test.bench VideoFile -test.benchtime 1x -test.count "$ROUNDS") | tee "$work/bench.txt" >&2

# Peak memory of a CLI run (default settings but the encoder's): the
# process's own peak, and the peak of it and its ffmpeg children together.
peak() { # file -> "own_MiB total_MiB"
  local f=$1 pid own=0 total=0 o t
  "$work/anonymize" -q --overwrite --codec "$CODEC" --preset "$PRESET" --out "$work/out" "$f" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    # (ps exits 1 when it finds nothing: between the ffmpeg children, or
    # once the run has ended)
    o=$( (ps -o rss= -p "$pid" || true) 2>/dev/null | awk '{s+=$1} END {print s+0}')
    t=$( (ps -o rss= -p "$pid"; ps -o rss= --ppid "$pid" || true) 2>/dev/null | awk '{s+=$1} END {print s+0}')
    [ "$o" -gt "$own" ] && own=$o
    [ "$t" -gt "$total" ] && total=$t
    sleep 0.2
  done
  wait "$pid"
  echo "$((own / 1024)) $((total / 1024))"
}

echo
echo "| video | size | frames | transcode only fps | anonymize fps, 1 thread | ratio | anonymize fps, 2 threads | cpu-ms/frame (transcode / 1 thread / 2 threads) | peak MiB (anonymize / with ffmpeg) |"
echo "|---|---|---|---|---|---|---|---|---|"
for f in "${files[@]}"; do
  b=$(basename "$f")
  read -r w h rot < <(ffprobe -v error -select_streams v:0 -show_entries stream=width,height:stream_side_data=rotation -of default=nw=1:nk=1 "$f" | xargs)
  size="${w}x${h}"
  case "${rot:-0}" in 90|-90|270|-270) size="$size (shown ${h}x${w})";; esac
  frames=$(ffprobe -v error -select_streams v:0 -show_entries stream=nb_frames -of default=nw=1:nk=1 "$f" | head -1)
  best() { grep "VideoFile/$b/$1-" "$work/bench.txt" | sed -E 's/.* ([0-9.]+) frames\/s.*/\1/' | sort -g | tail -1; }
  cpu() { grep "VideoFile/$b/$1-" "$work/bench.txt" | sed -E 's/.* ([0-9.]+) cpu-ms\/frame.*/\1/' | sort -g | head -1; }
  t=$(best transcode); a1=$(best threads=1); a2=$(best threads=2)
  read -r own total < <(peak "$f")
  printf '| %s | %s | %s | %.0f | **%.0f** | %.2f | %.0f | %.0f / %.0f / %.0f | %s / %s |\n' "$b" "$size" "$frames" \
    "$t" "$a1" "$(echo "$a1 / $t" | bc -l)" "$a2" "$(cpu transcode)" "$(cpu threads=1)" "$(cpu threads=2)" "$own" "$total"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
