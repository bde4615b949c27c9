#!/usr/bin/env bash
# Load benchmark: weather-api (release) against a local Entra-shaped issuer (entra-dev serve), and
# the Python peer (FastAPI + fastapi-azure-auth, 1 uvicorn worker) against the same issuer, in one
# run. Loopback only; every wait is bounded. See bench/README.md.
#
# Environment: DURATION (default 10s per scenario), THREADS (2), CONNS (64), POOL (10000 tokens),
# PY_VENV (default ~/.cache/entra-auth-bench/venv; SKIP_PYTHON=1 skips the Python peer),
# RESULTS (default bench/results/<date>.md).
set -euo pipefail

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
POOL=${POOL:-10000}
PY_VENV=${PY_VENV:-$HOME/.cache/entra-auth-bench/venv}
TID=7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a # entra-dev's development tenant
CID=a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c # entra-dev's development API client id

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
RESULTS=${RESULTS:-$BENCH/results/$(date -u +%Y-%m-%d-%H%M).md}
WORK=$(mktemp -d /tmp/entra-auth-bench.XXXXXX)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http URL: up to 30 s for a 200
wait_http() {
  for _ in $(seq 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ]; then return 0; fi
    sleep 0.1
  done
  die "no 200 from $1 within 30 s"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
key_requests() { curl -s "$ISSUER/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_requests"])'; }

# ---- tools ----
if ! command -v wrk >/dev/null; then
  log "installing wrk from Debian's packages"
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >&2; else sudo apt-get install -y wrk >&2; fi
fi
command -v curl >/dev/null || die "curl is needed"

log "building weather-api and entra-dev (release)"
(cd "$ROOT" && cargo build -q --release -j2 -p weather-api -p entra-dev)
WEATHER_API="$ROOT/target/release/weather-api"
ENTRA_DEV="$ROOT/target/release/entra-dev"

# ---- the issuer ----
export ENTRA_DEV_HOME="$WORK/entra-dev"
IPORT=$(free_port)
ISSUER="http://127.0.0.1:$IPORT"
RUST_LOG=warn "$ENTRA_DEV" serve --bind "127.0.0.1:$IPORT" >"$WORK/issuer.log" 2>&1 &
PIDS+=($!)
wait_http "$ISSUER/stats"

log "minting 1 + $POOL distinct tokens (scope weather.read, lifetime 1h)"
"$ENTRA_DEV" token --instance "$ISSUER/" --scope weather.read 2>/dev/null >"$WORK/one.txt"
"$ENTRA_DEV" token --instance "$ISSUER/" --scope weather.read --count "$POOL" 2>/dev/null >"$WORK/pool.txt"
[ "$(sort -u "$WORK/pool.txt" | wc -l)" -eq "$POOL" ] || die "the pool does not hold $POOL distinct tokens"

CLK_TCK=$(getconf CLK_TCK)
ROWS=()

# scenario NAME PID URL [TOKENS_FILE]
scenario() {
  local name=$1 pid=$2 url=$3 tokens=${4:-}
  local args=(-t"$THREADS" -c"$CONNS" -d"$DURATION" --latency --timeout 5s)
  if [ -n "$tokens" ]; then args+=(-s "$BENCH/rotate.lua"); fi
  local before after
  before=$(cpu_ticks "$pid")
  TOKENS=$tokens WRK_THREADS=$THREADS wrk "${args[@]}" "$url" >"$WORK/wrk.txt" 2>&1
  after=$(cpu_ticks "$pid")
  python3 - "$name" "$WORK/wrk.txt" "$((after - before))" "$CLK_TCK" "$(peak_rss_kib "$pid")" <<'PY' >>"$WORK/rows.tsv"
import re, sys
name, path, ticks, tck, rss = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
out = open(path).read()
def unit(v, u):
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
n = int(re.search(r"(\d+) requests in", out).group(1))
p50 = unit(*re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out).groups())
p99 = unit(*re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out).groups())
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errors = re.search(r"Socket errors: (.*)", out)
bad = int(bad.group(1)) if bad else 0
cpu_us = ticks / tck * 1e6 / max(n, 1)
print(f"{name}\t{rps:.0f}\t{p50:.3f}\t{p99:.3f}\t{cpu_us:.1f}\t{rss/1024:.1f}\t{n}\t{bad}\t{errors.group(1) if errors else ''}")
PY
  log "$(tail -1 "$WORK/rows.tsv")"
}

# start_weather_api CACHE_CAPACITY: starts the service with the issuer as its Entra instance
start_weather_api() {
  APORT=$(free_port)
  mkdir -p "$WORK/api-$1"
  (cd "$WORK/api-$1" && exec env RUST_LOG=warn \
    WEATHER_API__BIND="127.0.0.1:$APORT" \
    WEATHER_API__DATABASE_URL="sqlite://weather.db" \
    WEATHER_API__AZURE_AD__INSTANCE="$ISSUER/" \
    WEATHER_API__AZURE_AD__TENANT_ID="$TID" \
    WEATHER_API__AZURE_AD__CLIENT_ID="$CID" \
    WEATHER_API__AZURE_AD__TOKEN_CACHE_CAPACITY="$1" \
    "$WEATHER_API" >"$WORK/api-$1.log" 2>&1) &
  API_PID=$!
  PIDS+=("$API_PID")
  API="http://127.0.0.1:$APORT"
  wait_http "$API/readyz"
  # one request of each kind before measuring: connection pools, first-use allocations
  curl -s -o /dev/null -H "Authorization: Bearer $(cat "$WORK/one.txt")" "$API/api/reports"
}

echo -e "scenario\treq/s\tp50 ms\tp99 ms\tCPU µs/req\tpeak RSS MiB\trequests\tnon-2xx\tsocket errors" >"$WORK/rows.tsv"

# ---- weather-api, token cache on (default capacity 10,000) ----
start_weather_api 10000
KEYS_BEFORE=$(key_requests)
scenario "rust unprotected GET /healthz (no I/O)" "$API_PID" "$API/healthz"
scenario "rust unprotected GET /readyz (one DB round trip)" "$API_PID" "$API/readyz"
scenario "rust protected GET /api/reports, warm (1 token)" "$API_PID" "$API/api/reports" "$WORK/one.txt"
scenario "rust protected GET /api/reports, $POOL-token pool, cache on" "$API_PID" "$API/api/reports" "$WORK/pool.txt"
KEYS_AFTER=$(key_requests)
RUST_KEY_FETCHES=$((KEYS_AFTER - KEYS_BEFORE))
kill "$API_PID"; wait "$API_PID" 2>/dev/null || true

# ---- weather-api, token cache off: every request verifies a signature ----
start_weather_api 0
KEYS_BEFORE=$(key_requests)
scenario "rust unprotected GET /readyz (cache-off instance)" "$API_PID" "$API/readyz"
scenario "rust protected GET /api/reports, cold ($POOL-token pool, cache off)" "$API_PID" "$API/api/reports" "$WORK/pool.txt"
KEYS_AFTER=$(key_requests)
RUST_KEY_FETCHES=$((RUST_KEY_FETCHES + KEYS_AFTER - KEYS_BEFORE))
kill "$API_PID"; wait "$API_PID" 2>/dev/null || true

# ---- the Python peer ----
PY_KEY_FETCHES=n/a
if [ "${SKIP_PYTHON:-0}" != 1 ]; then
  if [ ! -x "$PY_VENV/bin/uvicorn" ]; then
    log "installing FastAPI, uvicorn and fastapi-azure-auth from PyPI into $PY_VENV"
    python3 -m venv "$PY_VENV" && "$PY_VENV/bin/pip" install -q -r "$BENCH/python/requirements.txt" >&2 \
      || { log "pip install failed: skipping the Python peer"; SKIP_PYTHON=1; }
  fi
fi
if [ "${SKIP_PYTHON:-0}" != 1 ]; then
  PPORT=$(free_port)
  (cd "$BENCH/python" && exec env ISSUER_URL="$ISSUER/" TENANT_ID="$TID" CLIENT_ID="$CID" \
    "$PY_VENV/bin/uvicorn" app:app --host 127.0.0.1 --port "$PPORT" --workers 1 \
    --log-level warning --no-access-log >"$WORK/python.log" 2>&1) &
  PY_PID=$!
  PIDS+=("$PY_PID")
  wait_http "http://127.0.0.1:$PPORT/healthz"
  curl -s -o /dev/null -H "Authorization: Bearer $(cat "$WORK/one.txt")" "http://127.0.0.1:$PPORT/api/reports"
  KEYS_BEFORE=$(key_requests)
  scenario "python unprotected GET /healthz" "$PY_PID" "http://127.0.0.1:$PPORT/healthz"
  scenario "python protected GET /api/reports (1 token)" "$PY_PID" "http://127.0.0.1:$PPORT/api/reports" "$WORK/one.txt"
  scenario "python protected GET /api/reports ($POOL-token pool)" "$PY_PID" "http://127.0.0.1:$PPORT/api/reports" "$WORK/pool.txt"
  KEYS_AFTER=$(key_requests)
  PY_KEY_FETCHES=$((KEYS_AFTER - KEYS_BEFORE))
fi

# ---- report ----
# the RS256 floor of the validator's backend, from the last bench/criterion.sh run
FLOOR_FILE="$ROOT/target/criterion/floor/rs256_verify_aws_lc_rs/new/estimates.json"
[ -f "$FLOOR_FILE" ] || FLOOR_FILE="$ROOT/target/criterion/floor/rs256_verify_ring/new/estimates.json"
mkdir -p "$(dirname "$RESULTS")"
python3 - "$WORK/rows.tsv" "$RUST_KEY_FETCHES" "$PY_KEY_FETCHES" "$FLOOR_FILE" \
  "$DURATION" "$THREADS" "$CONNS" "$POOL" <<'PY' | tee "$RESULTS"
import json, os, platform, subprocess, sys
rows_path, rust_fetches, py_fetches, floor_file, duration, threads, conns, pool = sys.argv[1:]
lines = [l.rstrip("\n").split("\t") for l in open(rows_path)]
head, rows = lines[0], lines[1:]
by = {r[0]: r for r in rows}
def get(prefix, col):
    for r in rows:
        if r[0].startswith(prefix):
            return float(r[col])
    return None
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": ")
print(f"# Load benchmark, {subprocess.run(['date','-u','+%Y-%m-%d %H:%M UTC'],capture_output=True,text=True).stdout.strip()}\n")
print(f"Machine: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}. wrk -t{threads} -c{conns} -d{duration} --latency, "
      f"loopback, wrk and the service share the CPUs. Command: `bench/run.sh`.\n")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in rows:
    print("| " + " | ".join(r) + " |")
RPS, P50, P99, CPU, RSS = 1, 2, 3, 4, 5
u_rdy = get("rust unprotected GET /readyz (one", RPS); u_hz = get("rust unprotected GET /healthz", RPS)
warm = get("rust protected GET /api/reports, warm", RPS)
u_rdy99 = get("rust unprotected GET /readyz (one", P99); warm99 = get("rust protected GET /api/reports, warm", P99)
cold_cpu = get("rust protected GET /api/reports, cold", CPU); base_cpu = get("rust unprotected GET /readyz (cache-off", CPU)
cold = get("rust protected GET /api/reports, cold", RPS)
py_prot = get("python protected GET /api/reports (1 token)", RPS); py_open = get("python unprotected", RPS)
floor_us = json.load(open(floor_file))["mean"]["point_estimate"] / 1000 if os.path.exists(floor_file) else None
rss_max = max(float(r[RSS]) for r in rows if r[0].startswith("rust"))
print("\n## Goals\n")
def line(goal, value, ok):
    print(f"- {goal}: {value} — **{'met' if ok else 'MISSED'}**")
line("warm protected ≥ 0.90 × unprotected throughput (/api/reports vs /readyz)", f"{warm/u_rdy:.2f}", warm / u_rdy >= 0.90)
print(f"  - (vs /healthz, which does no I/O at all: {warm/u_hz:.2f})")
line("warm protected p99 ≤ 1.2 × unprotected p99", f"{warm99:.2f} ms vs {u_rdy99:.2f} ms = {warm99/u_rdy99:.2f}", warm99 / u_rdy99 <= 1.2)
if floor_us:
    limit = base_cpu + 1.2 * floor_us
    line("cold CPU/request ≤ unprotected CPU/request + 1.2 × RS256 floor",
         f"{cold_cpu:.1f} µs vs {base_cpu:.1f} + 1.2 × {floor_us:.1f} = {limit:.1f} µs (extra {cold_cpu-base_cpu:.1f} µs = {(cold_cpu-base_cpu)/floor_us:.2f} × floor)",
         cold_cpu <= limit)
else:
    print("- cold CPU/request: run bench/criterion.sh first for the RS256 floor")
if py_prot:
    line("protected throughput ≥ 30 × FastAPI + fastapi-azure-auth (1 worker)",
         f"warm {warm/py_prot:.1f} ×, cold {cold/py_prot:.1f} × (python protected {py_prot:.0f} req/s = {py_prot/py_open:.2f} of its unprotected)",
         warm / py_prot >= 30)
line("zero key-set fetches on the request path (issuer's key_requests counter, whole Rust load)", f"{rust_fetches} (python peer: {py_fetches})", rust_fetches == "0")
line("service peak RSS ≤ 64 MiB", f"{rss_max:.1f} MiB", rss_max <= 64)
PY
log "results written to $RESULTS"
