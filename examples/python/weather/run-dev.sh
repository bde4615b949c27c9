#!/usr/bin/env bash
# One command: the course's weather API (FastAPI + entra_auth's drop-in) against a local entra-dev
# issuer and the OpenWeatherMap stand-in, on http://127.0.0.1:8000/. Ctrl-C stops all three.
# Builds entra-dev and the package into target/py-venv the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
venv="$root/target/py-venv"
cd "$root"
[ -x target/debug/entra-dev ] || cargo build -p entra-dev --bin entra-dev
if ! "$venv/bin/python" -c 'import entra_auth, fastapi, uvicorn, httpx' 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r crates/entra-auth-py/tests/requirements.txt
  (cd crates/entra-auth-py && VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --release)
fi
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
instance=http://127.0.0.1:8400/
target/debug/entra-dev serve --bind 127.0.0.1:8400 >"$work/issuer.log" 2>&1 &
pids+=($!)
python3 -u e2e/openweather_stub.py >"$work/stub.txt" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/stub.txt" && curl -sf "${instance}stats" >/dev/null && break; sleep 0.1; done
stub_port=$(awk '{print $3}' "$work/stub.txt")
cat >"$work/settings.json" <<JSON
{"api_key": "stub-key", "tenant_id": "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a",
 "client_id": "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c", "instance": "$instance",
 "openweather_url": "http://127.0.0.1:$stub_port"}
JSON
cat <<TXT
Weather API on http://127.0.0.1:8000/ (issuer $instance). Try:
  curl -i http://127.0.0.1:8000/api/reports                                   # 401
  TOKEN=\$(target/debug/entra-dev token --instance $instance --scope weather.read)
  curl -i -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:8000/api/weather/portland?state=OR
TXT
cd "$here"
WEATHER_SETTINGS="$work/settings.json" "$venv/bin/uvicorn" main:api --host 127.0.0.1 --port "${PORT:-8000}"
