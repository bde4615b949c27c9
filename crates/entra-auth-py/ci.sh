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

rm -f target/wheels/entra_auth-*.whl target/wheels/aarch64-extension.so
"$venv/bin/maturin" build --release --locked -m crates/entra-auth-py/Cargo.toml -o target/wheels
wheel=$(ls target/wheels/entra_auth-*-abi3-*x86_64.whl)
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

# The aarch64 manylinux wheel, cross-built by maturin's zig support with ziglang from PyPI (the venv the
# static sidecar build uses) and rustup's aarch64 standard library; the same abi3 package, ready to publish.
started=$SECONDS
zig_venv=$PWD/target/zig-venv
if [ ! -x "$zig_venv/bin/python" ] || ! "$zig_venv/bin/python" -c 'import ziglang' 2>/dev/null; then
  python3 -m venv "$zig_venv"
  "$zig_venv/bin/pip" install -q --disable-pip-version-check ziglang==0.17.1 cargo-zigbuild==0.24.1
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
# maturin runs zig as `python3 -m ziglang`: the zig venv's python first on PATH.
PATH="$zig_venv/bin:$PATH" "$venv/bin/maturin" build --release --locked --zig \
  --target aarch64-unknown-linux-gnu --compatibility manylinux2014 \
  -m crates/entra-auth-py/Cargo.toml -o target/wheels
arm_wheel=$(ls target/wheels/entra_auth-*-abi3-*aarch64.whl)
unzip -p "$arm_wheel" 'entra_auth/*.so' >target/wheels/aarch64-extension.so
echo "aarch64 wheel: $arm_wheel ($(du -k "$arm_wheel" | cut -f1) KiB; extension: $(file -b target/wheels/aarch64-extension.so | cut -d, -f1-2)); $((SECONDS - started)) s"
