# Shared by bench/run.sh and bench/sidecar.sh (sourced, after they set WORK): the processes they
# start (PIDS, stopped and WORK removed on exit), logging, ports from the OS, waiting for a 200,
# and a process's CPU ticks and peak RSS from /proc.
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

# start_issuer ENTRA_DEV: the development issuer on a free port, its keys under WORK; sets ISSUER
# (http://127.0.0.1:PORT, no trailing slash).
start_issuer() {
  export ENTRA_DEV_HOME="$WORK/entra-dev"
  local port
  port=$(free_port)
  ISSUER="http://127.0.0.1:$port"
  RUST_LOG=warn "$1" serve --bind "127.0.0.1:$port" >"$WORK/issuer.log" 2>&1 &
  PIDS+=($!)
  wait_http "$ISSUER/stats"
}

# mint_pool ENTRA_DEV COUNT: one weather.read token in WORK/one.txt and COUNT distinct ones, one a line,
# in WORK/pool.txt.
mint_pool() {
  "$1" token --instance "$ISSUER/" --scope weather.read 2>/dev/null >"$WORK/one.txt"
  "$1" token --instance "$ISSUER/" --scope weather.read --count "$2" 2>/dev/null >"$WORK/pool.txt"
}
