#!/usr/bin/env bash
# What a library user's first program costs in a debug build: the README's first library
# example as a fresh crate that depends on this checkout, built with `cargo build` (the dev
# profile) twice: as `cargo new` leaves it, and with the profile override the README's
# install section recommends. Prints a JSON object with the run times of each in seconds
# (warm Mesa shader cache, process start to exit); tools/host_path.py summarises it in
# docs/host-path.md.
#
#   tools/dependent_debug.sh [RUNS]      (default 5)
#
# Builds in its own target directory under $CARGO_TARGET_DIR or ./target (dependencies at
# opt-level 0 share nothing with the workspace's build): the first run takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
root="$PWD"
work="${CARGO_TARGET_DIR:-$root/target}/dependent-debug"
mkdir -p "$work"

# The README's first ```rust block: the graph example.
example="$(awk '/^```rust/{n++; if (n == 1) {on = 1; next}} on && /^```/{exit} on' README.md)"

make_crate() { # DIR, PROFILE_OVERRIDE (0/1)
    local dir="$1"
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "$(basename "$dir")"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
flopwatt = { path = "$root/crates/flopwatt" }

[workspace]
EOF
    if [ "$2" = 1 ]; then
        printf '\n[profile.dev.package."*"]\nopt-level = 2\n' >>"$dir/Cargo.toml"
    fi
    printf '%s\n' "$example" >"$dir/src/main.rs"
}

declare -A bin
for variant in plain override; do
    dir="$work/dep-$variant"
    make_crate "$dir" "$([ $variant = override ] && echo 1 || echo 0)"
    echo ">> building the $variant dependent (debug)" >&2
    (cd "$dir" && CARGO_TARGET_DIR="$work/target-$variant" cargo build -q)
    bin[$variant]="$work/target-$variant/debug/dep-$variant"
done

export MESA_SHADER_CACHE_DIR="$work/mesa-cache"
for variant in plain override; do "${bin[$variant]}" >/dev/null; done # warm the Mesa cache
python3 - "$runs" "${bin[plain]}" "${bin[override]}" <<'EOF'
import json, subprocess, sys, time
runs, plain, override = int(sys.argv[1]), sys.argv[2], sys.argv[3]
times = {"plain": [], "override": []}
for _ in range(runs):
    for name, b in (("plain", plain), ("override", override)):  # alternating: same load
        t = time.perf_counter()
        subprocess.run([b], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name].append(time.perf_counter() - t)
print(json.dumps(times))
EOF
