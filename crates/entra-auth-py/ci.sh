#!/usr/bin/env bash
# entra-auth-py in CI: a venv under target/ with the pinned tools, the abi3 wheel built by maturin
# against the workspace's target directory (release: the profile `cargo build --release` already
# filled), installed into the venv, then pytest over real HTTP (entra-dev, uvicorn) for the package
# and for examples/python/weather. pytest's "no tests collected" (exit 5) fails the step.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
venv=$PWD/target/py-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r crates/entra-auth-py/tests/requirements.txt
# The issuer binary the tests start (built by `cargo test --workspace` before this step).
[ -x target/debug/entra-dev ] || cargo build -p entra-dev --bin entra-dev --locked

rm -f target/wheels/entra_auth-*.whl
"$venv/bin/maturin" build --release --locked -m crates/entra-auth-py/Cargo.toml -o target/wheels
wheel=$(ls target/wheels/entra_auth-*-abi3-*.whl)
echo "wheel: $wheel ($(du -k "$wheel" | cut -f1) KiB)"
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"

run_pytest() {
  local rc=0
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" || rc=$?
  if [ "$rc" = 5 ]; then
    echo "pytest collected no tests in $PWD: failing" >&2
    return 1
  fi
  return "$rc"
}
(cd crates/entra-auth-py/tests && run_pytest .)
(cd examples/python/weather && run_pytest tests)
# The same app behind entra-sidecar (the sidecar binary is built by `cargo test --workspace` before this step).
[ -x target/debug/entra-sidecar ] || cargo build -p entra-sidecar --bin entra-sidecar --locked
(cd examples/python/weather-sidecar && run_pytest tests)
echo "entra-auth-py step: $((SECONDS - started)) s"
