#!/usr/bin/env bash
# entra-token's figures, in one run:
#   1. the load of the obo_chain example: CALLS on-behalf-of calls through API A over HTTP for USERS
#      users x 2 downstream scopes, token requests counted at the development issuer's /stats
#      (goal: <= USERS x 2); then two instances of API A sharing Redis (goal: the second makes no
#      token request), when Redis answers at REDIS_URL;
#   2. criterion: what a cache hit costs (goal: <= 2 us).
# Loopback only; the load driver runs issuer, API B, API A and the calls in one process. See
# BENCHMARKS.md ("entra-token").
#
# Environment: CALLS (10000), USERS (100), CONCURRENCY (32), REDIS_URL (default
# $TEST_REDIS_URL, else redis://127.0.0.1:6379; SKIP_REDIS=1 skips that part), SKIP_CRITERION=1,
# RESULTS (default bench/results/obo-<date>.md).
set -euo pipefail

CALLS=${CALLS:-10000}
USERS=${USERS:-100}
CONCURRENCY=${CONCURRENCY:-32}
REDIS_URL=${REDIS_URL:-${TEST_REDIS_URL:-redis://127.0.0.1:6379}}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RESULTS=${RESULTS:-$ROOT/bench/results/obo-$(date -u +%Y-%m-%d-%H%M).md}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

log() { echo "bench/obo: $*" >&2; }

# redis_answers URL: a PING within 2 s (host and port of a redis://host:port[/db] URL)
redis_answers() {
  local hostport=${1#redis://}
  hostport=${hostport#*@}
  hostport=${hostport%%/*}
  local host=${hostport%%:*} port=${hostport##*:}
  [ "$port" = "$host" ] && port=6379
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port && printf 'PING\r\n' >&3 && head -c 5 <&3" 2>/dev/null | grep -q PONG
}

log "building the obo_load example (release, feature redis)"
(cd "$ROOT" && cargo build -q --release -j2 -p entra-token --features redis --example obo_load)

ARGS=(--calls "$CALLS" --users "$USERS" --concurrency "$CONCURRENCY")
if [ "${SKIP_REDIS:-0}" != 1 ]; then
  if redis_answers "$REDIS_URL"; then
    ARGS+=(--redis "$REDIS_URL")
  else
    log "Redis does not answer at $REDIS_URL: the two-instance figure is skipped"
  fi
fi

{
  echo "# entra-token figures, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`bench/obo.sh\` on $(nproc) cores ($(uname -sr)); \`obo_load ${ARGS[*]}\`."
  echo
} >"$RESULTS"

log "running obo_load ${ARGS[*]}"
status=0
"$TARGET/release/examples/obo_load" "${ARGS[@]}" | tee -a "$RESULTS" || status=$?

if [ "${SKIP_CRITERION:-0}" != 1 ]; then
  log "criterion: cargo bench -p entra-token --bench cache"
  rm -rf "$TARGET/criterion/cache_hit_"*
  (cd "$ROOT" && cargo bench -q -j2 -p entra-token --features redis --bench cache -- --noplot >&2)
  CRITERION="$TARGET/criterion" python3 - <<'PY' | tee -a "$RESULTS"
import json, os
root = os.environ["CRITERION"]
print()
# The goal is the cache hit; the third benchmark adds parsing the incoming token (context).
hits = ("cache_hit_client_credentials", "cache_hit_on_behalf_of")
print("| criterion benchmark (per call) | mean | median | goal: a cache hit <= 2 us |")
print("|---|---:|---:|---|")
for name in sorted(os.listdir(root)):
    est = os.path.join(root, name, "new", "estimates.json")
    if name.startswith("cache_hit_") and os.path.exists(est):
        e = json.load(open(est))
        mean, median = e["mean"]["point_estimate"], e["median"]["point_estimate"]
        goal = ("met" if mean <= 2000 else "MISSED") if name in hits else "context: + UserAssertion::parse"
        print(f"| `{name}` | {mean:.0f} ns | {median:.0f} ns | {goal} |")
PY
fi
log "results in $RESULTS"
exit "$status"
