#!/usr/bin/env bash
# Install what the tests need (Python packages, Debian's Chromium for the browser tests)
# and run the whole suite. Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not ui"`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -r requirements-test.txt
python3 -m pytest "$@"
