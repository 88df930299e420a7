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
