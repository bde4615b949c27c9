#!/usr/bin/env bash
# Real-browser end-to-end test of /docs: installs Debian's chromium if missing and playwright-core (npm ci,
# no browser download), builds and starts weather-api in development mode on a free port, and runs
# browser.test.mjs with Node's test runner. Screenshots: test-output/e2e/*.png.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  log "installing Debian's chromium"
  apt_install chromium
fi
log "$("$CHROMIUM" --version 2>/dev/null | tail -n1)"

if ! command -v node >/dev/null 2>&1; then
  log "installing Node.js from Debian"
  apt_install nodejs npm
fi
(cd "$E2E_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)

build_binaries
WORK=$(mktemp -d)
SERVICE_PID=
cleanup() {
  stop_pid "$SERVICE_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT
start_service "$WORK"

mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/*.png
log "running the browser test (screenshots in $OUT_DIR)"
cd "$E2E_DIR"
BASE_URL="$BASE_URL" CHROMIUM="$CHROMIUM" E2E_OUT_DIR="$OUT_DIR" \
  timeout 300 node --test --test-reporter=spec --test-reporter-destination=stdout browser.test.mjs
