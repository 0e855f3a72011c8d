# Sourced by demo.sh and test.sh: installs the Debian packages gradguard
# needs, once, and only those that are missing.
GG_PACKAGES_BUILD="build-essential cmake pkg-config libopenblas-dev libfyaml-dev libjansson-dev zlib1g-dev dataset-fashion-mnist openmpi-bin libopenmpi-dev"
GG_PACKAGES_TEST="libcmocka-dev clang libclang-rt-14-dev valgrind python3-torch python3-numpy chromium"

gg_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: need root to install ${missing[*]}" >&2; return 1; }
        sudo="sudo"
    fi
    $sudo apt-get update -q >/dev/null && \
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
