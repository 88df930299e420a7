#!/usr/bin/env bash
# Measure flopwatt on a GPU machine that may have no Rust toolchain and no network.
#
#   tools/gpu-check.sh package [TARBALL]   (here) build release binaries and test executables,
#                                          pack them with this script into TARBALL
#                                          (default target/gpu-check.tar.gz)
#   tools/gpu-check.sh run [DIR]           (on the GPU machine, inside the unpacked tarball)
#                                          run the kernel tests on the real adapter, `flopwatt
#                                          info`, `flopwatt peak`, `flopwatt bench --suite
#                                          standard --json`, and tools/torch_baseline.py where
#                                          PyTorch is installed; results go to DIR (default
#                                          ./results), with one table of ratios printed last.
#
# The Vulkan loader: if this machine has libvulkan.so.1 it is packed into lib/, and `run`
# puts lib/ on LD_LIBRARY_PATH only when the GPU machine has no loader of its own. The
# driver (ICD) must be the GPU machine's; set VK_DRIVER_FILES if the loader does not find it.
# See docs/gpu.md.
set -euo pipefail

# Kernel and graph test binaries that need no model files or fixtures at run time.
# GPU_CHECK_TESTS="reduce norm" packs fewer.
read -r -a TESTS <<<"${GPU_CHECK_TESTS:-reduce reduce_fused norm attention matmul pool conv \
conv_backward elementwise gather graph in_place optim}"

package() {
    local root tarball stage
    root="$(cd "$(dirname "$0")/.." && pwd)"
    cd "$root"
    tarball="$(realpath -m "${1:-target/gpu-check.tar.gz}")"
    stage="$(mktemp -d)/gpu-check"
    mkdir -p "$stage/bin" "$stage/tests" "$stage/lib"
    echo ">> cargo build --release -p flopwatt-cli" >&2
    cargo build --release -p flopwatt-cli
    cp target/release/flopwatt "$stage/bin/"
    local args=()
    for t in "${TESTS[@]}"; do args+=(--test "$t"); done
    echo ">> cargo test --release -p flopwatt --no-run (${TESTS[*]})" >&2
    cargo test --release -p flopwatt "${args[@]}" --no-run --message-format=json \
        | python3 -c '
import json, sys, shutil
dest = sys.argv[1]
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        name = m["target"]["name"]
        shutil.copy(m["executable"], f"{dest}/{name}")
        print(name, file=sys.stderr)
' "$stage/tests"
    local loader
    loader="$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')"
    if [ -n "$loader" ]; then
        cp -L "$loader" "$stage/lib/libvulkan.so.1"
    else
        echo "note: no libvulkan.so.1 here; the GPU machine must have its own loader" >&2
    fi
    cp tools/gpu-check.sh tools/torch_baseline.py "$stage/"
    git rev-parse HEAD >"$stage/COMMIT" 2>/dev/null || true
    mkdir -p "$(dirname "$tarball")"
    tar -C "$(dirname "$stage")" -czf "$tarball" gpu-check
    rm -rf "$(dirname "$stage")"
    echo "$tarball ($(du -h "$tarball" | cut -f1)): copy it over, then" >&2
    echo "  tar xzf gpu-check.tar.gz && cd gpu-check && ./gpu-check.sh run" >&2
}

run() {
    local here out
    here="$(cd "$(dirname "$0")" && pwd)"
    out="$(realpath -m "${1:-results}")"
    mkdir -p "$out"
    cd "$here"
    if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && [ -f lib/libvulkan.so.1 ]; then
        export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "using the packed Vulkan loader (lib/libvulkan.so.1)"
    fi
    # The tests must find an adapter here: a missing one fails instead of skipping.
    export CI=true
    echo ">> flopwatt info"
    ./bin/flopwatt info | tee "$out/info.txt"
    echo ">> kernel tests on the real adapter"
    : >"$out/tests.txt"
    local failed=0
    for t in tests/*; do
        if "$t" >"$out/test-$(basename "$t").log" 2>&1; then
            echo "pass $(basename "$t")" | tee -a "$out/tests.txt"
        else
            echo "FAIL $(basename "$t") (see test-$(basename "$t").log)" | tee -a "$out/tests.txt"
            failed=1
        fi
    done
    echo ">> flopwatt peak"
    ./bin/flopwatt peak | tee "$out/peak.txt"
    ./bin/flopwatt peak --json >"$out/peak.json"
    echo ">> flopwatt bench --suite standard"
    ./bin/flopwatt bench --suite standard --json "$out/bench.json" | tee "$out/bench.txt"
    if python3 -c 'import torch' 2>/dev/null; then
        echo ">> PyTorch baseline"
        python3 torch_baseline.py >"$out/torch.json"
    else
        echo "no PyTorch here: no baseline column"
    fi
    table "$out" | tee "$out/ratios.txt"
    return "$failed"
}

# One table: flopwatt's GFLOP/s (or GB/s) beside PyTorch's for the shared workloads.
table() {
    python3 - "$1" <<'PY'
import json, os, sys
out = sys.argv[1]
bench = json.load(open(os.path.join(out, "bench.json")))
peak = json.load(open(os.path.join(out, "peak.json")))
torch_path = os.path.join(out, "torch.json")
torch = json.load(open(torch_path)).get("results", {}) if os.path.exists(torch_path) else {}
ours = {}
for r in bench.get("results", []):
    # The best variant of each workload (fused where it exists).
    ours[r["id"]] = max(ours.get(r["id"], 0.0), r["gflops"])
rows = [(k, ours.get(k), torch.get(k, {}).get("gflops"), "GFLOP/s")
        for k in sorted(set(ours) | set(torch)) if k != "copy"]
rows.append(("copy (peak)", peak.get("copy_gbps"), torch.get("copy", {}).get("gbps"), "GB/s"))
print(f"{'workload':<28}{'flopwatt':>12}{'pytorch':>12}{'ratio':>8}  unit")
for name, a, b, unit in rows:
    fa = f"{a:12.1f}" if a is not None else f"{'-':>12}"
    fb = f"{b:12.1f}" if b is not None else f"{'-':>12}"
    ratio = f"{a / b:8.2f}" if a and b else f"{'-':>8}"
    print(f"{name:<28}{fa}{fb}{ratio}  {unit}")
print(f"peak: {peak.get('f32_gflops', 0):.0f} GFLOP/s f32, {peak.get('copy_gbps', 0):.0f} GB/s copy, "
      f"{peak.get('upload_gbps', 0):.1f} GB/s upload, {peak.get('dispatch_roundtrip_us', 0):.0f} us dispatch")
PY
}

case "${1:-}" in
package) shift; package "$@" ;;
run) shift; run "$@" ;;
*)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
