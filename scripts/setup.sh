#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for the coach: system packages, a virtual environment in
# .venv, and the project with its dependencies. Safe to run again: it skips what is already done.
#   scripts/setup.sh            what the coach needs
#   scripts/setup.sh --browser  also what the tests need: Debian's chromium (end-to-end tests, the live
#                               benchmark), PostgreSQL and HAProxy (the scale-out tests)
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: libGL for opencv-contrib (pulled in by mediapipe), ffmpeg for clip conversion.
missing=()
ldconfig -p 2>/dev/null | grep -q 'libGL\.so\.1' || missing+=(libgl1)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
if [ "${1:-}" = "--browser" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)
  # the tips' and icons' emoji in screenshots (scripts/screenshots.py); without it they are empty boxes
  [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
  # the scale-out tests: a real PostgreSQL server (started by the tests themselves, in a temporary
  # folder, never the system's cluster) and HAProxy in front of two `coach serve` processes
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  command -v haproxy >/dev/null || missing+=(haproxy)
fi
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "setup: please install these Debian packages first: ${missing[*]}" >&2; exit 1
  fi
  echo "setup: installing ${missing[*]} (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python 3.11 or 3.12 (mediapipe 0.10.21 and torch 2.13.0 have wheels for both).
python=""
for candidate in "${PYTHON:-}" python3.11 python3.12 python3; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))'; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "setup: Python 3.11 or 3.12 is needed (set PYTHON=/path/to/python)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.setup-stamp"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv (first time: a few minutes)"
  # torch first and pinned: a looser request would pull the newest CUDA build (several GB).
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e ".[dev]"
  .venv/bin/python -m pip check
  echo "$want" > "$stamp"
fi
echo "setup: ready (.venv/bin/coach)"
