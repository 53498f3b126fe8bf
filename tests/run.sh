#!/usr/bin/env bash
# Install what the tests need (Python packages; from Debian: Chromium for the browser tests,
# a Java runtime for Spark's local mode) and run the whole suite, on two workers (pytest-xdist; a
# file's tests stay on one worker, with its fixtures; TEST_WORKERS sets how many). Extra arguments
# go to pytest, e.g. `bash tests/run.sh -m "not ui"`.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v java >/dev/null || missing+=(default-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -r requirements-test.txt
python3 -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
