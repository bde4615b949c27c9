#!/usr/bin/env bash
# Issue 24's benchmark, one run on this machine with one token and the same uvicorn flags for every app:
#   FastAPI unprotected (app_entra.py GET /api/open), FastAPI + entra_auth (app_entra.py GET /api/reports,
#   Security scope weather.read), FastAPI + fastapi-azure-auth (app.py GET /api/reports, same scope), and
#   FastAPI behind EntraAuthMiddleware (app_entra.py:app_mw, GET /api/open excluded, GET /api/reports),
# all against one entra-dev issuer; then the in-process timeit (validate_timeit.py: warm, cold, RS256 floor).
# Environment: DURATION (10s), THREADS (2), CONNS (64), ROUNDS (3), PY_BENCH_VENV (target/py-bench-venv),
# KEEP_INSTALLED=1 (keep the entra_auth already in that venv instead of installing the wheel).
# Needs wrk (Debian package), target/debug/entra-dev, and the wheel in target/wheels (crates/entra-auth-py/ci.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${PY_BENCH_VENV:-$root/target/py-bench-venv}
DURATION=${DURATION:-10s} THREADS=${THREADS:-2} CONNS=${CONNS:-64}
TID=7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a
CID=a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c
UVICORN_FLAGS=(--host 127.0.0.1 --workers 1 --log-level warning --no-access-log)

wheel=$(ls "$root"/target/wheels/entra_auth-*-abi3-*x86_64*.whl 2>/dev/null | head -n1 || true)
[ -n "$wheel" ] || { echo "no wheel in target/wheels: run crates/entra-auth-py/ci.sh first" >&2; exit 1; }
if [ ! -x "$venv/bin/uvicorn" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements-bench.txt"
fi
[ -n "${KEEP_INSTALLED:-}" ] || "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0; sleep 0.1; done; echo "no 200 from $1" >&2; return 1; }

"$root/target/debug/entra-dev" --data-dir "$work/issuer" serve --bind 127.0.0.1:0 >"$work/issuer.txt" 2>/dev/null &
pids+=($!)
for _ in $(seq 300); do grep -q Instance "$work/issuer.txt" 2>/dev/null && break; sleep 0.1; done
issuer=$(awk '/Instance/ {print $2}' "$work/issuer.txt")
token=$("$root/target/debug/entra-dev" --data-dir "$work/issuer" token --instance "$issuer" --scope weather.read 2>/dev/null)

serve() { # module:attribute port
  (cd "$here" && exec env ISSUER_URL="$issuer" TENANT_ID="$TID" CLIENT_ID="$CID" \
    "$venv/bin/uvicorn" "$1" --port "$2" "${UVICORN_FLAGS[@]}" >"$work/${1%%:*}.log" 2>&1) &
  pids+=($!)
  wait_http "http://127.0.0.1:$2/healthz"
}
ours=$(free_port); serve app_entra:app "$ours"
theirs=$(free_port); serve app:app "$theirs"
mw=$(free_port); serve app_entra:app_mw "$mw"
for url in "http://127.0.0.1:$ours/api/reports" "http://127.0.0.1:$theirs/api/reports" "http://127.0.0.1:$mw/api/reports"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url")
  [ "$code" = 200 ] || { echo "$url answered $code to the benchmark token" >&2; exit 1; }
done

# One scenario: wrk's requests/s and the app process's CPU time per request (user + system from
# /proc/PID/stat over the scenario: insensitive to the other load on this shared machine).
clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
scenario() { # name pid url
  local before after out
  before=$(cpu_ticks "$2")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -H "Authorization: Bearer $token" "$3")
  after=$(cpu_ticks "$2")
  python3 - "$1" "$before" "$after" "$clk" "$out" >>"$work/rows.tsv" <<'PY'
import re, sys
name, before, after, clk, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
n = int(re.search(r"(\d+) requests in", out).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
print(f"{name}\t{rps}\t{(after - before) / clk / n * 1e6 if n else 0}")
PY
}
ours_pid=${pids[1]} theirs_pid=${pids[2]} mw_pid=${pids[3]}
for round in $(seq "${ROUNDS:-3}"); do
  scenario "unprotected" "$ours_pid" "http://127.0.0.1:$ours/api/open"
  scenario "entra_auth" "$ours_pid" "http://127.0.0.1:$ours/api/reports"
  scenario "no-op dependency" "$ours_pid" "http://127.0.0.1:$ours/api/noop-dependency"
  scenario "fastapi-azure-auth" "$theirs_pid" "http://127.0.0.1:$theirs/api/reports"
  scenario "unprotected (middleware app)" "$mw_pid" "http://127.0.0.1:$mw/api/open"
  scenario "entra_auth middleware" "$mw_pid" "http://127.0.0.1:$mw/api/reports"
done
echo "## FastAPI (uvicorn ${UVICORN_FLAGS[*]}; wrk -t$THREADS -c$CONNS -d$DURATION, one token, ${ROUNDS:-3} rounds, medians)"
echo
python3 - "$work/rows.tsv" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
med = lambda name, i: statistics.median(float(r[i]) for r in rows if r[0] == name)
names = ["unprotected", "entra_auth", "fastapi-azure-auth", "unprotected (middleware app)", "entra_auth middleware"]
label = {"unprotected": "FastAPI unprotected GET /api/open",
         "entra_auth": "FastAPI + entra_auth GET /api/reports (Security dependency)",
         "fastapi-azure-auth": "FastAPI + fastapi-azure-auth GET /api/reports (Security dependency)",
         "unprotected (middleware app)": "FastAPI behind EntraAuthMiddleware, excluded GET /api/open",
         "entra_auth middleware": "FastAPI behind EntraAuthMiddleware GET /api/reports"}
print("| route | req/s (wall) | app CPU µs / request |")
print("|---|---|---|")
for n in names:
    print(f"| {label[n]} | {med(n, 1):.0f} | {med(n, 2):.0f} |")
u, o, t, mu, mo = (med(n, 2) for n in names)
ur, orr, tr, mur, mor = (med(n, 1) for n in names)
print()
print(f"- entra_auth dependency / unprotected throughput: {orr / ur:.2f} wall, {u / o:.2f} by CPU per request (goal >= 0.85)")
print(f"- entra_auth middleware / unprotected throughput: {mor / mur:.2f} wall, {mu / mo:.2f} by CPU per request (goal >= 0.85)")
print(f"- entra_auth dependency / fastapi-azure-auth throughput: {orr / tr:.2f} wall, {t / o:.2f} by CPU per request (goal >= 3)")
print(f"- entra_auth middleware / fastapi-azure-auth throughput: {mor / tr:.2f} wall, {t / mo:.2f} by CPU per request")
nd = med("no-op dependency", 2)
print(f"- the ceiling of any Security dependency (one that checks nothing) / unprotected: {u / nd:.2f} by CPU per request; entra_auth's dependency / that no-op dependency: {nd / o:.2f}")
PY
echo
echo "## In process (validate_timeit.py: calling thread's CPU time, best of 7)"
echo
"$venv/bin/python" "$here/validate_timeit.py" "$issuer" "$token"
