#!/usr/bin/env bash
# The static (musl) entra-sidecar binaries deploy/entra-sidecar.Dockerfile puts in its image, built the same
# way (cargo-zigbuild, with ziglang and cargo-zigbuild from PyPI in target/zig-venv), stripped, with their
# sizes. CI has no Docker engine: this is the image's content minus the distroless base (~2 MB).
#
#   bash deploy/build-sidecar-static.sh                       # x86_64 and aarch64
#   bash deploy/build-sidecar-static.sh x86_64-unknown-linux-musl
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
venv=target/zig-venv
# The toolchain comes from the registries (PyPI, rustup's targets); when it cannot be had, say so and stop
# without failing CI. A compile error past this point fails.
if [ ! -x "$venv/bin/cargo-zigbuild" ]; then
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check ziglang==0.17.1 cargo-zigbuild==0.24.1; }; then
    echo "skipped: the static sidecar build needs ziglang and cargo-zigbuild from PyPI, which could not be installed"
    exit 0
  fi
fi
export PATH="$PWD/$venv/bin:$PATH"
for triple in "${targets[@]}"; do
  if ! rustup target list --installed | grep -qx "$triple" && ! rustup target add "$triple"; then
    echo "skipped: rustup could not add the $triple standard library"
    exit 0
  fi
done
args=()
for triple in "${targets[@]}"; do args+=(--target "$triple"); done
started=$SECONDS
cargo zigbuild --release --locked -p entra-sidecar "${args[@]}"
mkdir -p target/sidecar-dist
for triple in "${targets[@]}"; do
  out="target/sidecar-dist/entra-sidecar-$triple"
  cp "target/$triple/release/entra-sidecar" "$out"
  # zig's objcopy cannot strip these binaries: binutils of the target's architecture can (Debian's
  # binutils-aarch64-linux-gnu for arm64). Without one, the size is reported unstripped.
  case "$triple" in
    aarch64-*) tool=aarch64-linux-gnu-strip; package=binutils-aarch64-linux-gnu ;;
    *) tool=strip; package=binutils ;;
  esac
  if ! command -v "$tool" >/dev/null 2>&1; then
    apt-get install -y -q --no-install-recommends "$package" >/dev/null 2>&1 || true
  fi
  stripped=stripped
  "$tool" "$out" 2>/dev/null || stripped="NOT stripped ($tool unavailable)"
  kind=$(file -b "$out" | cut -d, -f1-2)
  printf 'entra-sidecar %s: %s bytes %s (%s)\n' "$triple" "$(stat -c %s "$out")" "$stripped" "$kind"
done
echo "static sidecar build: $((SECONDS - started)) s"
