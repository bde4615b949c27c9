#!/usr/bin/env bash
# Load benchmark, in one run, against a local Entra-shaped issuer (entra-dev serve):
#   1. entra-auth's load_target example: the same handler public (/open) and protected (/protected);
#   2. weather-api (release), configured for that issuer as its Entra instance;
#   3. the Python peer, FastAPI + fastapi-azure-auth (1 uvicorn worker), against the same issuer.
# Loopback only; every wait is bounded. See bench/README.md.
#
# Environment: DURATION (default 10s per scenario), THREADS (2), CONNS (64), POOL (10000 tokens),
# PY_VENV (default ~/.cache/entra-auth-bench/venv; SKIP_PYTHON=1 skips the Python peer),
# PROFILE=1 (after the measurements, 5 s CPU profiles with `perf record -e cpu-clock`),
# SEED (default 100000: the large report table of the paging scenario),
# RESULTS (default bench/results/<date>.md).
set -euo pipefail

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
POOL=${POOL:-10000}
SEED=${SEED:-100000}
PY_VENV=${PY_VENV:-$HOME/.cache/entra-auth-bench/venv}
TID=7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a # entra-dev's development tenant
CID=a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c # entra-dev's development API client id

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
RESULTS=${RESULTS:-$BENCH/results/$(date -u +%Y-%m-%d-%H%M).md}
WORK=$(mktemp -d /tmp/entra-auth-bench.XXXXXX)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
key_requests() { curl -s "$ISSUER/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_requests"])'; }
# instance_key_fetches KIND URL: the key refreshes one instance made, from its own validator's counter
# (KIND target: load_target's JSON /metrics; api: weather-api's Prometheus /metrics). The issuer's
# key_requests counts every instance at once, and the paired rounds run two instances side by side.
instance_key_fetches() {
  case $1 in
    target) curl -s "$2/metrics" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_fetches"])' ;;
    api) curl -s "$2/metrics" | awk '$1 == "entra_auth_key_fetches_total" {print $2}' ;;
    *) die "instance_key_fetches: unknown kind $1" ;;
  esac
}

# ---- tools ----
if ! command -v wrk >/dev/null; then
  log "installing wrk from Debian's packages"
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >&2; else sudo apt-get install -y wrk >&2; fi
fi
command -v curl >/dev/null || die "curl is needed"

log "building weather-api, entra-dev and entra-auth's load_target example (release)"
(cd "$ROOT" && cargo build -q --release -j2 -p weather-api -p entra-dev \
  && cargo build -q --release -j2 -p entra-auth --example load_target)
WEATHER_API="$ROOT/target/release/weather-api"
ENTRA_DEV="$ROOT/target/release/entra-dev"
LOAD_TARGET="$ROOT/target/release/examples/load_target"

# ---- the issuer ----
start_issuer "$ENTRA_DEV"

log "minting 1 + $POOL distinct tokens (scope weather.read, lifetime 1h)"
mint_pool "$ENTRA_DEV" "$POOL"
"$ENTRA_DEV" token --instance "$ISSUER/" --scope weather.write 2>/dev/null >"$WORK/write.txt"
[ "$(sort -u "$WORK/pool.txt" | wc -l)" -eq "$POOL" ] || die "the pool does not hold $POOL distinct tokens"

CLK_TCK=$(getconf CLK_TCK)
ROWS=()

# scenario NAME PID URL TOKENS_FILE [SCRIPT]: every scenario, public ones included, sends the same kind of
# request (an Authorization header rotating over TOKENS_FILE, built by the same Lua script), so
# wrk's own CPU cost, which it takes from the same two cores, is the same on both sides of a ratio.
scenario() {
  local name=$1 pid=$2 url=$3 tokens=${4:-} script=${5:-$BENCH/rotate.lua}
  local args=(-t"$THREADS" -c"$CONNS" -d"$DURATION" --latency --timeout 5s)
  if [ -n "$tokens" ]; then args+=(-s "$script"); fi
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

# start_target CACHE_CAPACITY: entra-auth's load_target example
start_target() {
  TPORT=$(free_port)
  RUST_LOG=warn "$LOAD_TARGET" --bind "127.0.0.1:$TPORT" --instance "$ISSUER/" --cache-capacity "$1" \
    >"$WORK/target-$1.log" 2>&1 &
  TARGET_PID=$!
  PIDS+=("$TARGET_PID")
  TARGET="http://127.0.0.1:$TPORT"
  wait_http "$TARGET/open"
  curl -s -o /dev/null -H "Authorization: Bearer $(cat "$WORK/one.txt")" "$TARGET/protected"
  count_from_here "$TARGET_PID" target "$TARGET" "load_target (cache capacity $1)"
}

# Key refreshes each Rust instance made while under load, by its own counter (start-up fetches excluded:
# counting starts once the instance is ready and has answered one request). KEY_FETCH_ROWS holds one
# "instance<TAB>fetches" line per instance, for the report; RUST_KEY_FETCHES is their sum.
RUST_KEY_FETCHES=0
KEY_FETCH_ROWS=()
declare -A COUNT_KIND COUNT_URL COUNT_NAME COUNT_START
# count_from_here PID KIND URL NAME
count_from_here() {
  COUNT_KIND[$1]=$2; COUNT_URL[$1]=$3; COUNT_NAME[$1]=$4
  COUNT_START[$1]=$(instance_key_fetches "$2" "$3")
}
# count_until_here PID
count_until_here() {
  local n=$(($(instance_key_fetches "${COUNT_KIND[$1]}" "${COUNT_URL[$1]}") - ${COUNT_START[$1]}))
  RUST_KEY_FETCHES=$((RUST_KEY_FETCHES + n))
  KEY_FETCH_ROWS+=("${COUNT_NAME[$1]}"$'\t'"$n")
  log "key refreshes under load, ${COUNT_NAME[$1]}: $n"
}

# stop PID
stop() { count_until_here "$1"; kill "$1"; wait "$1" 2>/dev/null || true; }

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
    WEATHER_API__RATE_LIMIT__READ__REQUESTS=1000000000 \
    WEATHER_API__RATE_LIMIT__WRITE__REQUESTS=1000000000 \
    "$WEATHER_API" >"$WORK/api-$1.log" 2>&1) &
  API_PID=$!
  PIDS+=("$API_PID")
  API="http://127.0.0.1:$APORT"
  API_DB="$WORK/api-$1/weather.db"
  wait_http "$API/readyz"
  # one request of each kind before measuring: connection pools, first-use allocations
  curl -s -o /dev/null -H "Authorization: Bearer $(cat "$WORK/one.txt")" "$API/api/reports"
  count_from_here "$API_PID" api "$API" "weather-api (cache capacity $1)"
}

echo -e "scenario\treq/s\tp50 ms\tp99 ms\tCPU µs/req\tpeak RSS MiB\trequests\tnon-2xx\tsocket errors" >"$WORK/rows.tsv"

# ---- 1. the library pair: same handler, public and protected ----
start_target 10000
scenario "lib unprotected GET /open" "$TARGET_PID" "$TARGET/open" "$WORK/one.txt"
scenario "lib protected GET /protected, warm (1 token)" "$TARGET_PID" "$TARGET/protected" "$WORK/one.txt"
scenario "lib protected GET /protected, $POOL-token pool, cache on" "$TARGET_PID" "$TARGET/protected" "$WORK/pool.txt"
curl -s "$TARGET/metrics" >"$WORK/metrics-on.json"
stop "$TARGET_PID"
start_target 0
scenario "lib unprotected GET /open (cache-off instance)" "$TARGET_PID" "$TARGET/open" "$WORK/pool.txt"
scenario "lib protected GET /protected, cold ($POOL-token pool, cache off)" "$TARGET_PID" "$TARGET/protected" "$WORK/pool.txt"
curl -s "$TARGET/metrics" >"$WORK/metrics-off.json"
stop "$TARGET_PID"

# ---- 2. weather-api ----
start_weather_api 10000
# Issue 15's ratios, paired: a reference load_target runs beside the service, and each round measures its
# /open right before the three service routes, so that a change of the machine's load between the two
# sides of a ratio (other builds on these 2 cores) shifts both. PAIRS rounds (default 3) of PAIR_DURATION
# (default 5s) each; the summary takes the median ratio.
REF_PORT=$(free_port)
RUST_LOG=warn "$LOAD_TARGET" --bind "127.0.0.1:$REF_PORT" --instance "$ISSUER/" --cache-capacity 10000 \
  >"$WORK/target-ref.log" 2>&1 &
REF_PID=$!
PIDS+=("$REF_PID")
wait_http "http://127.0.0.1:$REF_PORT/open"
curl -s -o /dev/null -H "Authorization: Bearer $(cat "$WORK/one.txt")" "http://127.0.0.1:$REF_PORT/protected"
count_from_here "$REF_PID" target "http://127.0.0.1:$REF_PORT" "load_target (paired rounds' reference)"
for round in $(seq 1 "${PAIRS:-3}"); do
  DURATION=${PAIR_DURATION:-5s} scenario "pair $round: lib unprotected GET /open" "$REF_PID" "http://127.0.0.1:$REF_PORT/open" "$WORK/one.txt"
  DURATION=${PAIR_DURATION:-5s} scenario "pair $round: weather-api GET /healthz" "$API_PID" "$API/healthz" "$WORK/one.txt"
  DURATION=${PAIR_DURATION:-5s} scenario "pair $round: weather-api GET /readyz" "$API_PID" "$API/readyz" "$WORK/one.txt"
  DURATION=${PAIR_DURATION:-5s} scenario "pair $round: weather-api protected GET /api/reports, warm, empty table" "$API_PID" "$API/api/reports" "$WORK/one.txt"
done
stop "$REF_PID"
scenario "weather-api unprotected GET /healthz (no I/O)" "$API_PID" "$API/healthz" "$WORK/one.txt"
scenario "weather-api unprotected GET /readyz (database check cached 1 s)" "$API_PID" "$API/readyz" "$WORK/one.txt"
scenario "weather-api protected GET /api/reports, warm (1 token), empty table" "$API_PID" "$API/api/reports" "$WORK/one.txt"
scenario "weather-api protected GET /api/reports, $POOL-token pool, cache on" "$API_PID" "$API/api/reports" "$WORK/pool.txt"
# the default page at 100 and at $SEED stored reports, on the same instance (rows inserted directly
# into its SQLite file, in the format the service writes)
seed_reports() {
  python3 - "$API_DB" "$1" <<'PY'
import datetime, sqlite3, sys, uuid
db, total = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db, timeout=30)
have = c.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
rows = []
for i in range(have, total):
    t = (start + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows.append((str(uuid.uuid4()), f"seeded report {i}", "portland", "or", "us", t))
c.executemany("INSERT INTO reports (id, description, city, state, country, created_date) VALUES (?,?,?,?,?,?)", rows)
c.commit()
# fold the WAL into the database file, as SQLite's automatic checkpoints do over time
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(c.execute("SELECT COUNT(*) FROM reports").fetchone()[0])
PY
}
log "seeded $(seed_reports 100) reports"
scenario "weather-api protected GET /api/reports default page, 100 reports" "$API_PID" "$API/api/reports" "$WORK/one.txt"
log "seeded $(seed_reports "$SEED") reports"
scenario "weather-api protected GET /api/reports default page, $SEED reports" "$API_PID" "$API/api/reports" "$WORK/one.txt"
stop "$API_PID"
# write throughput: every 201 is a committed, fsynced row (fewer connections: writes serialise)
start_weather_api 10000
CONNS_SAVED=$CONNS; CONNS=8
scenario "weather-api protected POST /api/reports (durable, 8 connections)" "$API_PID" "$API/api/reports" "$WORK/write.txt" "$BENCH/post.lua"
CONNS=$CONNS_SAVED
stop "$API_PID"
start_weather_api 0
scenario "weather-api unprotected GET /readyz (cache-off instance)" "$API_PID" "$API/readyz" "$WORK/pool.txt"
scenario "weather-api protected GET /api/reports, cold ($POOL-token pool, cache off)" "$API_PID" "$API/api/reports" "$WORK/pool.txt"
stop "$API_PID"

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
  scenario "python unprotected GET /healthz" "$PY_PID" "http://127.0.0.1:$PPORT/healthz" "$WORK/one.txt"
  scenario "python protected GET /api/reports (1 token)" "$PY_PID" "http://127.0.0.1:$PPORT/api/reports" "$WORK/one.txt"
  scenario "python protected GET /api/reports ($POOL-token pool)" "$PY_PID" "http://127.0.0.1:$PPORT/api/reports" "$WORK/pool.txt"
  KEYS_AFTER=$(key_requests)
  PY_KEY_FETCHES=$((KEYS_AFTER - KEYS_BEFORE))
fi

# ---- optional CPU profiles (after the measurements, so they do not perturb them) ----
# profile NAME PID URL [TOKENS_FILE]: flat cpu-clock profile of PID during 5 s of load
profile() {
  local name=$1 pid=$2 url=$3 tokens=${4:-}
  local args=(-t"$THREADS" -c"$CONNS" -d5s)
  if [ -n "$tokens" ]; then args+=(-s "$BENCH/rotate.lua"); fi
  perf record -e cpu-clock -F 999 -p "$pid" -o "$WORK/perf.data" -- sleep 5 >/dev/null 2>&1 &
  local perf_pid=$!
  TOKENS=$tokens WRK_THREADS=$THREADS wrk "${args[@]}" "$url" >/dev/null 2>&1
  wait "$perf_pid" || true
  {
    echo; echo "### Profile: $name"; echo; echo '```'
    perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -40
    echo '```'
  } >>"$WORK/profiles.md"
}
: >"$WORK/profiles.md"
if [ "${PROFILE:-0}" = 1 ]; then
  if perf record -e cpu-clock -o "$WORK/probe.data" -- true >/dev/null 2>&1; then
    log "profiling (perf record -e cpu-clock)"
    start_target 10000
    profile "load_target GET /protected, warm" "$TARGET_PID" "$TARGET/protected" "$WORK/one.txt"
    stop "$TARGET_PID"
    start_target 0
    profile "load_target GET /protected, cold (cache off)" "$TARGET_PID" "$TARGET/protected" "$WORK/pool.txt"
    stop "$TARGET_PID"
    start_weather_api 10000
    profile "weather-api GET /readyz" "$API_PID" "$API/readyz" "$WORK/one.txt"
    profile "weather-api GET /healthz" "$API_PID" "$API/healthz" "$WORK/one.txt"
    profile "weather-api GET /api/reports, warm" "$API_PID" "$API/api/reports" "$WORK/one.txt"
    stop "$API_PID"
  else
    log "perf record does not work here: no profiles"
  fi
fi

# ---- report ----
# the RS256 floor of the validator's backend, from the last bench/criterion.sh run
FLOOR_FILE="$ROOT/target/criterion/floor/rs256_verify_aws_lc_rs_parsed_key/new/estimates.json"
[ -f "$FLOOR_FILE" ] || FLOOR_FILE="$ROOT/target/criterion/floor/rs256_verify_ring/new/estimates.json"
mkdir -p "$(dirname "$RESULTS")"
printf '%s\n' "${KEY_FETCH_ROWS[@]}" >"$WORK/key-fetches.tsv"
python3 - "$WORK/rows.tsv" "$RUST_KEY_FETCHES" "$PY_KEY_FETCHES" "$FLOOR_FILE" \
  "$DURATION" "$THREADS" "$CONNS" "$POOL" "$WORK/metrics-on.json" "$WORK/metrics-off.json" \
  "$WORK/profiles.md" "$WORK/key-fetches.tsv" <<'PY' | tee "$RESULTS"
import json, os, platform, subprocess, sys
(rows_path, rust_fetches, py_fetches, floor_file, duration, threads, conns, pool,
 metrics_on, metrics_off, profiles, key_fetch_rows) = sys.argv[1:]
lines = [l.rstrip("\n").split("\t") for l in open(rows_path)]
head, rows = lines[0], lines[1:]
RPS, P50, P99, CPU, RSS = 1, 2, 3, 4, 5
def get(prefix, col):
    for r in rows:
        if r[0].startswith(prefix):
            return float(r[col])
    return None
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load = open("/proc/loadavg").read().split()[:3]
when = subprocess.run(["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True, text=True).stdout.strip()
print(f"# Load benchmark, {when}\n")
print(f"Machine: {os.cpu_count()} CPUs ({model}), Linux {platform.release()}, load average at the end "
      f"{' '.join(load)}. wrk -t{threads} -c{conns} -d{duration} --latency on loopback; wrk and the "
      f"service share the CPUs. Command: `bench/run.sh`. CPU µs/req is the service's user+system CPU "
      f"time (/proc/PID/stat) over the scenario divided by the requests served.\n")
print("| " + " | ".join(head) + " |")
print("|---|" + "---:|" * (len(head) - 1))
for r in rows:
    print("| " + " | ".join(r) + " |")
on = json.load(open(metrics_on)); off = json.load(open(metrics_off))
def ratio(m):
    t = m["token_cache_hits"] + m["token_cache_misses"]
    return m["token_cache_hits"] / t if t else 0.0
print(f"\nload_target token cache, cache-on instance: {on['token_cache_hits']} hits, "
      f"{on['token_cache_misses']} misses (hit ratio {ratio(on):.3f}), {on['token_cache_entries']} entries; "
      f"cache-off instance: {off['token_cache_hits']} hits, {off['accepted']} tokens accepted, "
      f"{off['rejected']} rejected.")
floor_us = json.load(open(floor_file))["mean"]["point_estimate"] / 1000 if os.path.exists(floor_file) else None
print(f"\nRS256 floor (criterion, `{os.path.basename(os.path.dirname(os.path.dirname(floor_file)))}`): "
      + (f"{floor_us:.2f} µs" if floor_us else "not measured (run bench/criterion.sh first)"))

lib_open, lib_warm = get("lib unprotected GET /open", RPS), get("lib protected GET /protected, warm", RPS)
lib_open99, lib_warm99 = get("lib unprotected GET /open", P99), get("lib protected GET /protected, warm", P99)
lib_cold_cpu, lib_open_cpu = get("lib protected GET /protected, cold", CPU), get("lib unprotected GET /open (cache-off", CPU)
lib_cold = get("lib protected GET /protected, cold", RPS)
w_rdy, w_hz = get("weather-api unprotected GET /readyz (database", RPS), get("weather-api unprotected GET /healthz", RPS)
w_warm, w_cold = get("weather-api protected GET /api/reports, warm", RPS), get("weather-api protected GET /api/reports, cold", RPS)
w_rdy99, w_warm99 = get("weather-api unprotected GET /readyz (database", P99), get("weather-api protected GET /api/reports, warm", P99)
py_prot, py_open = get("python protected GET /api/reports (1 token)", RPS), get("python unprotected", RPS)
rss_max = max(float(r[RSS]) for r in rows if not r[0].startswith("python"))
print("\n## Goals (the library pair: the same handler with and without the auth layer)\n")
def line(goal, value, ok):
    print(f"- {goal}: {value} — **{'met' if ok else 'MISSED'}**")
lib_warm_cpu, lib_open_cpu_on = get("lib protected GET /protected, warm", CPU), get("lib unprotected GET /open", CPU)
line("warm protected ≥ 0.90 × unprotected throughput", f"{lib_warm:.0f} / {lib_open:.0f} = {lib_warm/lib_open:.2f}", lib_warm / lib_open >= 0.90)
print(f"  - by CPU time per request (what a CPU-bound service can serve, insensitive to other load on the "
      f"machine): {lib_open_cpu_on:.1f} / {lib_warm_cpu:.1f} µs = {lib_open_cpu_on/lib_warm_cpu:.2f}")
line("warm protected p99 ≤ 1.2 × unprotected p99", f"{lib_warm99:.2f} / {lib_open99:.2f} ms = {lib_warm99/lib_open99:.2f}", lib_warm99 / lib_open99 <= 1.2)
if floor_us:
    limit = lib_open_cpu + 1.2 * floor_us
    line("cold CPU/request ≤ unprotected CPU/request + 1.2 × RS256 floor",
         f"{lib_cold_cpu:.1f} µs vs {lib_open_cpu:.1f} + 1.2 × {floor_us:.1f} = {limit:.1f} µs "
         f"(validation adds {lib_cold_cpu-lib_open_cpu:.1f} µs = {(lib_cold_cpu-lib_open_cpu)/floor_us:.2f} × floor)",
         lib_cold_cpu <= limit)
if py_prot:
    line("protected throughput ≥ 30 × FastAPI + fastapi-azure-auth (1 worker), warm",
         f"{lib_warm/py_prot:.1f} × (load_target), {w_warm/py_prot:.1f} × (weather-api, which also queries its database)",
         lib_warm / py_prot >= 30)
    print(f"  - cold (cache off, every request verifies a signature): {lib_cold/py_prot:.1f} × (load_target), "
          f"{w_cold/py_prot:.1f} × (weather-api); the Python peer: {py_prot:.0f} req/s protected = "
          f"{py_prot/py_open:.2f} of its unprotected {py_open:.0f} req/s")
per_instance = [l.rstrip("\n").split("\t") for l in open(key_fetch_rows) if l.strip()]
line("zero key-set fetches on the request path (each Rust instance's own key refresh counter, from ready to stop)",
     f"{rust_fetches} (Python peer, issuer's counter: {py_fetches})", rust_fetches == "0")
for name, n in per_instance:
    print(f"  - {name}: {n}")
line("service peak RSS ≤ 64 MiB", f"{rss_max:.1f} MiB (highest VmHWM of any Rust instance)", rss_max <= 64)
print("\n## weather-api (service level: the protected route also queries the database)\n")
print(f"- warm /api/reports ÷ /readyz: {w_warm/w_rdy:.2f} (throughput), {w_warm99/w_rdy99:.2f} (p99); "
      f"÷ /healthz: {w_warm/w_hz:.2f}; cold /api/reports ÷ /readyz: {w_cold/get('weather-api unprotected GET /readyz (cache-off', RPS):.2f}")
print("\n## weather-api goals (issue 15: CPU time per request, ratios within this run)\n")
open_cpu = get("lib unprotected GET /open", CPU)
hz_cpu = get("weather-api unprotected GET /healthz", CPU)
rdy_cpu = get("weather-api unprotected GET /readyz (database", CPU)
warm_cpu = get("weather-api protected GET /api/reports, warm", CPU)
import statistics
pairs = {}
for r in rows:
    if r[0].startswith("pair "):
        n, what = r[0][5:].split(": ", 1)
        pairs.setdefault(int(n), {})[what] = float(r[CPU])
def paired(what):
    ratios = [p[what] / p["lib unprotected GET /open"] for p in pairs.values()
              if what in p and "lib unprotected GET /open" in p]
    return (statistics.median(ratios), ratios) if ratios else (None, [])
for goal, what, bound in [
        ("protected GET /api/reports (default page, empty table as in the issue's baseline), warm ≤ 3 × load_target /open",
         "weather-api protected GET /api/reports, warm, empty table", 3),
        ("/healthz ≤ 1.5 × /open", "weather-api GET /healthz", 1.5),
        ("/readyz ≤ 2 × /open", "weather-api GET /readyz", 2)]:
    med, ratios = paired(what)
    if med is not None:
        line(goal + " (paired rounds, median)", f"{med:.2f} (rounds: {', '.join(f'{x:.2f}' for x in ratios)})", med <= bound)
print(f"- unpaired (the first scenarios of each instance, minutes apart): reports warm {warm_cpu:.1f} / {open_cpu:.1f} µs = "
      f"{warm_cpu/open_cpu:.2f}, /healthz {hz_cpu/open_cpu:.2f}, /readyz {rdy_cpu/open_cpu:.2f}")
small = next((r for r in rows if r[0].startswith("weather-api protected GET /api/reports default page, 100 ")), None)
large = next((r for r in rows if r[0].startswith("weather-api protected GET /api/reports default page,") and r is not small), None)
if small:
    print(f"- the same with a full default page (50 of 100 reports, ~10 KB; the newest page's answer is kept "
          f"while nothing is committed, so this is the cache hit): "
          f"{float(small[CPU]):.1f} / {open_cpu:.1f} µs = {float(small[CPU])/open_cpu:.2f} × /open")
if small and large:
    s_cpu, l_cpu = float(small[CPU]), float(large[CPU])
    line("default page at the large table ≤ 1.2 × at 100 reports", f"{l_cpu:.1f} / {s_cpu:.1f} µs = {l_cpu/s_cpu:.2f}", l_cpu / s_cpu <= 1.2)
post = next((r for r in rows if r[0].startswith("weather-api protected POST /api/reports")), None)
if post:
    print(f"- write throughput (each 201 a committed, fsynced row): {post[RPS]} req/s, p99 {post[P99]} ms, {post[CPU]} µs CPU per report, {post[7]} non-2xx")
prof = open(profiles).read()
if prof.strip():
    print("\n## CPU profiles (`PROFILE=1`, perf record -e cpu-clock, flat, ≥ 1 % of samples)")
    print(prof)
PY
log "results written to $RESULTS"
