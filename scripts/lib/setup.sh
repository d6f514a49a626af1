# Sourced by scripts/demo, scripts/test and scripts/bench: installs what is missing on a fresh
# Debian/Ubuntu machine (Swift itself must be on PATH) and builds dptrain in release mode.
set -euo pipefail

DPTRAIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$DPTRAIN_ROOT"

# System packages: Open MPI, OpenBLAS, oneDNN (float products), zlib and libdeflate (gzip), SQLite (GRDB, the sweep store), pkg-config, the
# Fashion-MNIST data set, GNU time (peak-memory figures). NumPy (for the reference fixtures' check) comes from pip if missing.
DPTRAIN_APT_PACKAGES=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev zlib1g-dev libdeflate-dev libsqlite3-dev pkg-config dataset-fashion-mnist time)

dptrain_install_missing() {
  local missing=()
  for p in "${DPTRAIN_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! python3 -c "import numpy" 2>/dev/null; then
    echo "==> installing numpy (pip)"
    python3 -m pip install --quiet numpy || {
      local sudo=""
      [ "$(id -u)" -ne 0 ] && sudo="sudo"
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-numpy >/dev/null
    }
  fi
  if ! command -v swift >/dev/null; then
    echo "error: swift is not on PATH; install Swift 6.1 or newer (https://swift.org/install)" >&2
    exit 1
  fi
}

# dptrain_install_optional PACKAGE...: installs what is missing, and only warns if apt cannot.
dptrain_install_optional() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "==> installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
    echo "warning: could not install ${missing[*]}; the checks that need them will say they were skipped" >&2
}

dptrain_build_release() {
  echo "==> swift build -c release"
  swift build -c release 2>&1 | grep -vE "^\[[0-9]+/[0-9]+\]" || true
  test "${PIPESTATUS[0]}" -eq 0
  DPTRAIN="$DPTRAIN_ROOT/.build/release/dptrain"
  test -x "$DPTRAIN"
}

# Open MPI refuses root unless told; harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SWIFT_BACKTRACE=enable=no
