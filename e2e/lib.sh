# Shared by the e2e scripts (source it): build the binaries and run weather-api in development mode on a
# free loopback port with a temporary database and development-issuer key directory.
# shellcheck shell=bash

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/.." && pwd)
OUT_DIR="$ROOT/test-output/e2e"

log() { printf '[e2e] %s\n' "$*" >&2; }

# apt_install PACKAGE...: installs Debian packages, refreshing the package lists once if needed.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WEATHER_API_BIN="$TARGET_DIR/debug/weather-api"
ENTRA_DEV_BIN="$TARGET_DIR/debug/entra-dev"

# Debug builds of the service and the token CLI. Skipped when both binaries are newer than every file of
# the workspace's crates (as right after `cargo test --workspace` in .ci/run, whose feature set differs from
# a plain `cargo build` and would otherwise rebuild dependencies).
build_binaries() {
  if is_fresh "$WEATHER_API_BIN" crates/weather-api crates/entra-auth crates/entra-dev &&
    is_fresh "$ENTRA_DEV_BIN" crates/entra-dev crates/entra-auth; then
    log "using the up-to-date debug binaries in $TARGET_DIR/debug"
    return 0
  fi
  (cd "$ROOT" && cargo build --locked -q -p weather-api -p entra-dev)
}

# is_fresh BINARY DIR...: BINARY exists and is newer than Cargo.lock, Cargo.toml and every file in the DIRs.
is_fresh() {
  local bin=$1
  shift
  [ -x "$bin" ] || return 1
  local dirs=()
  for d in "$@"; do [ -e "$ROOT/$d" ] && dirs+=("$ROOT/$d"); done
  [ -z "$(find "${dirs[@]}" "$ROOT/Cargo.lock" "$ROOT/Cargo.toml" -newer "$bin" -print -quit)" ]
}

# wait_for_line FILE REGEX SECONDS PID: prints the first match of REGEX in FILE once it appears; fails if
# PID exits first or SECONDS pass.
wait_for_line() {
  local file=$1 regex=$2 seconds=$3 pid=$4 match
  local deadline=$((SECONDS + seconds))
  while true; do
    match=$(grep -Eo "$regex" "$file" 2>/dev/null | head -n1 || true)
    if [ -n "$match" ]; then
      printf '%s\n' "$match"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited before printing /$regex/:"
      cat "$file" >&2
      return 1
    fi
    if ((SECONDS > deadline)); then
      log "no /$regex/ in $file within ${seconds}s:"
      cat "$file" >&2
      return 1
    fi
    sleep 0.2
  done
}

# start_service WORKDIR [NAME=VALUE ...]: starts target/debug/weather-api in development mode (no azure_ad
# settings) in WORKDIR, bound to 127.0.0.1:0, with the database and ENTRA_DEV_HOME under WORKDIR and the
# extra settings given; waits until /readyz answers 200. Sets SERVICE_PID and BASE_URL.
start_service() {
  local work=$1
  shift
  mkdir -p "$work/entra-dev"
  (
    cd "$work"
    exec env ENTRA_DEV_HOME="$work/entra-dev" \
      WEATHER_API__MODE=development \
      WEATHER_API__BIND=127.0.0.1:0 \
      WEATHER_API__DATABASE_URL="sqlite://$work/weather.db" \
      WEATHER_API__LOG_FORMAT=json \
      RUST_LOG=info \
      "$@" "$WEATHER_API_BIN"
  ) >"$work/service.log" 2>&1 &
  SERVICE_PID=$!
  local addr
  addr=$(wait_for_line "$work/service.log" '"addr":"127\.0\.0\.1:[0-9]+"' 60 "$SERVICE_PID") || return 1
  addr=${addr#\"addr\":\"}
  BASE_URL="http://${addr%\"}"
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null --max-time 5 "$BASE_URL/readyz"; do
    if ((SECONDS > deadline)); then
      log "$BASE_URL/readyz did not answer 200 within 60s"
      cat "$work/service.log" >&2
      return 1
    fi
    sleep 0.2
  done
  log "weather-api (pid $SERVICE_PID) ready at $BASE_URL (log: $work/service.log)"
}

# stop_pid PID: stops a process this script started and waits for it.
stop_pid() {
  local pid=$1
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}

# The schemathesis suites: its version (from PyPI, in e2e/.venv) and how many examples per operation.
SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-30}
VENV="$E2E_DIR/.venv"

# install_schemathesis: schemathesis SCHEMATHESIS_VERSION in VENV, unless it is there already.
install_schemathesis() {
  if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$VENV"; }
    timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}

# run_schemathesis LABEL SERVICE_LOG SCHEMA [schemathesis run options...]: runs schemathesis with the
# options both suites share (the token, MAX_EXAMPLES, SEED, one worker, 10 s per request, a junit report in
# OUT_DIR named after LABEL), prints one line "LABEL: N passed, N failed" (per API operation) from the
# report, the service log's last lines when it found problems, and exits with schemathesis's status.
run_schemathesis() {
  local label=$1 service_log=$2 status
  shift 2
  local junit="$OUT_DIR/${label// /-}-junit.xml"
  set +e
  timeout 600 "$VENV/bin/schemathesis" run "$@" \
    --header "Authorization: Bearer $TOKEN" \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 10 \
    --report junit --report-junit-path "$junit" \
    --no-color
  status=$?
  set -e
  if [ -f "$junit" ]; then
    local header tests failures errors
    header=$(grep -m1 -o '<testsuites[^>]*>' "$junit")
    count() { printf '%s' "$header" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
    tests=$(count tests) failures=$(count failures) errors=$(count errors)
    printf '%s: %d passed, %d failed\n' "$label" "$((tests - failures - errors))" "$((failures + errors))"
  fi
  if [ "$status" -ne 0 ]; then
    log "$label found problems (exit $status); service log: last lines"
    tail -n 20 "$service_log" >&2
  fi
  exit "$status"
}
