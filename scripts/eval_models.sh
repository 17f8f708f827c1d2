#!/usr/bin/env bash
# The face-model comparison of docs/MODELS.md: every face model in the catalogue at its
# own threshold and lower ones, tiles off / auto / 3x3, then the search for the default
# (thresholds, mask scales and shapes, two detectors combined), on wider-dev (101 WIDER
# FACE photos, 775 faces) and voc (9 PASCAL VOC photos, 43 faces), with `anonymize eval`
# at --jobs 2. Prints one Markdown table row per configuration and data set; the
# numbers go to docs/MODELS.md by hand, with the machine they ran on.
#
#   scripts/eval_models.sh            # everything (about 30 min on 2 shared cores)
#   scripts/eval_models.sh models     # the per-model table only
#   scripts/eval_models.sh search     # the default search only
#   scripts/eval_models.sh default    # the chosen default, plus whole-run images/s
#
# Accuracy is deterministic; time is not: on a shared machine re-run the rows whose
# speed matters. "CPU ms/image" (user+sys of the whole eval process over the images)
# moves much less with other load than wall time does.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null 2>&1 || scripts/setup.sh
SHARED=${ANONYMIZE_SHARED:-../shared}
ROOT=$PWD
what=${1:-all}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

N=yunet-n-dynamic
S=yunet-s-640-opencvzoo-2023mar
RF=retinaface-mnet025-640
U6=ultraface-rfb-640
U3=ultraface-rfb-320

# Every catalogue face model from $SHARED/models (the BlazeFace npm pair comes with
# scripts/setup.sh).
for m in $N $S ultraface-slim-320 $U3 $U6 $RF mpface-blazeface-back-256 \
  mediapipe-blazeface-short-128-tf2onnx mediapipe-blazeface-full-192-tf2onnx; do
  [ -f "models/$m/model.onnx" ] || ./anonymize models install "$m" --file "$SHARED/models/$m/model.onnx" >/dev/null
done

# cfg MODELS SPEC...: a config file that spells out everything measured, so that the
# defaults in config.toml (or built in) cannot change a row. SPEC is
# MODEL:THRESHOLD[:MASK_SCALE[:SHAPE[:TILES]]]; the mask is an ellipse at 1.3 unless given.
cfg() {
  local f spec m t ms sh ti models=$1; shift
  f=$(mktemp -p "$work" cfg.XXXXXX)
  {
    echo "models_dir = \"$ROOT/models\""
    echo "model = \"$models\""
    echo "threshold = 0.0"
    echo "tiles = \"off\""
    echo "[runtime]"
    echo "library = \"$ROOT/third_party/onnxruntime/libonnxruntime.so.1\""
    echo "[hide]"
    echo "shape = \"ellipse\""
    echo "mask_scale = 1.3"
    for spec in "$@"; do
      IFS=: read -r m t ms sh ti <<<"$spec"
      echo "[detectors.$m]"
      echo "threshold = $t"
      echo "mask_scale = ${ms:-1.3}"
      echo "shape = \"${sh:-ellipse}\""
      echo "tiles = \"${ti:-off}\""
    done
  } >"$f"
  echo "$f"
}

# row LABEL EVAL-ARGS...: one table row per data set.
row() {
  local label=$1 set out t; shift
  for set in wider-dev voc; do
    if [ $set = wider-dev ]; then d=(--images "$SHARED/data/faces/wider-dev" --boxes "$SHARED/data/faces/wider-dev_boxes.json")
    else d=(--images "$SHARED/data/faces" --boxes "$SHARED/data/faces/voc_boxes.json"); fi
    TIMEFORMAT='%U %S'
    t=$( { time ./anonymize eval "${d[@]}" --jobs 2 -q "$@" >"$work/out" 2>"$work/err"; } 2>&1 ) || { echo "| $label | $set | failed: $(tail -1 "$work/err") |"; continue; }
    awk -v label="$label" -v set="$set" -v cpu="$t" '
      /^images/ { n = $2 + 0 }
      /^recall /{ r = $2 } /^recall@0.8/ { r8 = $2 } /^over-hiding/ { o = $2 * 100 }
      /^time/ { ms = $2 }
      END { split(cpu, c, " "); printf "| %s | %s | %s | %s | %.2f%% | %.1f | %.0f |\n", label, set, r, r8, o, 1000 / ms, (c[1] + c[2]) * 1000 / n }
    ' "$work/out"
  done
}

header() {
  echo
  echo "| configuration | set | recall | recall@0.8 | over-hiding | images/s (eval) | CPU ms/image |"
  echo "|---|---|---|---|---|---|---|"
}

if [ "$what" = all ] || [ "$what" = models ]; then
  header
  # model: own threshold first, then lower ones; tiles auto at the first two.
  for spec in "$N 0.3 0.2 0.1" "$S 0.3 0.2 0.1" "$RF 0.6 0.4 0.2" "$U6 0.7 0.5 0.3" "$U3 0.7 0.5 0.3" \
    "ultraface-slim-320 0.7 0.5 0.3" "mpface-blazeface-back-256 0.6 0.4 0.2" "blazeface-back-256 0.5 0.3 0.2" \
    "mediapipe-blazeface-full-192-tf2onnx 0.6 0.4 0.2" "mediapipe-blazeface-short-128-tf2onnx 0.5 0.3 0.2" \
    "blazeface-front-128 0.5 0.3 0.2"; do
    read -r m ts <<<"$spec"
    for t in $ts; do row "$m $t" --config "$(cfg "$m" "$m:$t")"; done
    # The 128-px short-range models are hopeless on wider-dev (0.34 at 0.2): tiles at
    # their own threshold only.
    case $m in *-128*) ta=${ts%% *} ;; *) ta=$(echo "$ts" | cut -d' ' -f1-2) ;; esac
    for t in $ta; do row "$m $t tiles auto" --config "$(cfg "$m" "$m:$t:::auto")"; done
    case $m in $S | $RF | $U6) t=${ts%% *}; row "$m $t tiles 3x3" --config "$(cfg "$m" "$m:$t:::3x3")" ;; esac
  done
fi

if [ "$what" = all ] || [ "$what" = search ]; then
  header
  for v in "0.3 1.3 ellipse" "0.2 1.3 ellipse" "0.2 1.2 ellipse" "0.2 1.1 box" "0.2 1.0 box" \
    "0.22 1.2 ellipse" "0.25 1.2 ellipse" "0.25 1.3 ellipse"; do
    read -r t ms sh <<<"$v"
    row "$N $t, $sh $ms" --config "$(cfg $N "$N:$t:$ms:$sh")"
  done
  row "$S 0.1, ellipse 1.2" --config "$(cfg $S "$S:0.1:1.2")"
  for v in "$U3 0.3 0.3 1.3" "$U3 0.25 0.3 1.3" "$U3 0.25 0.5 1.3" "$U3 0.2 0.5 1.2" "$U6 0.3 0.3 1.3" \
    "$RF 0.3 0.4 1.3" "$RF 0.3 0.2 1.3" "$RF 0.25 0.3 1.2" \
    "$S 0.3 0.3 1.3" "$S 0.3 0.2 1.3" "$S 0.3 0.2 1.2" "$S 0.3 0.15 1.3" "$S 0.3 0.1 1.3" "$S 0.3 0.1 1.2" \
    "$S 0.25 0.3 1.3" "$S 0.25 0.2 1.3" "$S 0.25 0.2 1.2" "$S 0.25 0.2 1.1" "$S 0.25 0.15 1.3" \
    "$S 0.25 0.15 1.2" "$S 0.25 0.1 1.2" "$S 0.22 0.2 1.2" "$S 0.2 0.2 1.2"; do
    read -r m2 tn t2 ms <<<"$v"
    row "$N $tn + $m2 $t2, ellipse $ms" --config "$(cfg "$N,$m2" "$N:$tn:$ms" "$m2:$t2:$ms")"
  done
  row "$N 0.25 + $S 0.2, box 1.1" --config "$(cfg "$N,$S" "$N:0.25:1.1:box" "$S:0.2:1.1:box")"
  row "$N 0.25 + $S 0.2 tiles auto, ellipse 1.2" --config "$(cfg "$N,$S" "$N:0.25:1.2" "$S:0.2:1.2::auto")"
fi

if [ "$what" = all ] || [ "$what" = default ]; then
  header
  def=$(cfg "$N,$S" "$N:0.25" "$S:0.15")
  row "default: $N 0.25 + $S 0.15, ellipse 1.3" --config "$def"
  # Whole runs (read, detect, hide, encode, write), best of three.
  n=$(find "$SHARED/data/faces/wider-dev" -name '*.jpg' | wc -l)
  for c in "$(cfg $N "$N:0.3")" "$def"; do
    best=0
    for _ in 1 2 3; do
      s=$(date +%s.%N)
      ./anonymize --config "$c" -q --overwrite --out "$work/out-run" "$SHARED/data/faces/wider-dev"
      e=$(date +%s.%N)
      best=$(awk -v n="$n" -v s="$s" -v e="$e" -v b="$best" 'BEGIN { r = n / (e - s); print (r > b ? r : b) }')
    done
    printf 'whole run, wider-dev, %s: %.1f images/s (best of 3)\n' "$(grep '^model =' "$c" | cut -d'"' -f2)" "$best"
  done
fi
