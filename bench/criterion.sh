#!/usr/bin/env bash
# Micro-benchmarks of entra-auth (criterion), printed as ratios to the floor: one RS256 signature
# verification with ring. Usage: bench/criterion.sh [extra cargo bench args, e.g. --features entra-auth/aws-lc-rs]
# Bounded: criterion's default 3 s warm-up + 5 s measurement per benchmark (~11 benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
# Criterion writes below CARGO_TARGET_DIR, which a relative value resolves from the bench's own directory
# (crates/entra-auth/target): pin its output to where this script reads it.
export CRITERION_HOME="$PWD/target/criterion"
rm -rf target/criterion/floor target/criterion/validate target/criterion/request target/criterion/parts
cargo bench -j2 -p entra-auth --bench validation "$@" -- --noplot >&2
python3 - <<'PY'
import json, os
root = "target/criterion"
rows = []
for group in sorted(os.listdir(root)):
    gdir = os.path.join(root, group)
    if not os.path.isdir(gdir) or group == "report":
        continue
    for name in sorted(os.listdir(gdir)):
        est = os.path.join(gdir, name, "new", "estimates.json")
        if os.path.exists(est):
            e = json.load(open(est))
            rows.append((f"{group}/{name}", e["mean"]["point_estimate"], e["median"]["point_estimate"]))
means = dict((n, m) for n, m, _ in rows)
# the validator's own way of verifying: a key parsed once (aws-lc-rs), else per-call components (ring)
floor_name = next(n for n in ("floor/rs256_verify_aws_lc_rs_parsed_key", "floor/rs256_verify_aws_lc_rs",
                              "floor/rs256_verify_ring") if n in means)
floor = means.get(floor_name)
print(f"| benchmark (thread CPU time per iteration) | mean | median | mean / floor (`{floor_name}`) |")
print("|---|---:|---:|---:|")
def fmt(ns):
    return f"{ns/1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"
for n, mean, med in rows:
    ratio = f"{mean/floor:.3f}" if floor else "n/a"
    print(f"| `{n}` | {fmt(mean)} | {fmt(med)} | {ratio} |")
PY
