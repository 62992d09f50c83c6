# Sourced by scripts/demo.sh and scripts/test.sh: find or install uv, then sync the workspace.
# Needs only Python 3.10+ with venv/pip. Sets UV to the uv executable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_uv() {
  if command -v uv >/dev/null 2>&1; then
    UV="$(command -v uv)"
    return
  fi
  local tools="${WAXELL_TOOLS_DIR:-$HOME/.cache/waxell-observe-tools}"
  if [ ! -x "$tools/bin/uv" ]; then
    echo "==> installing uv into $tools" >&2
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check uv
  fi
  UV="$tools/bin/uv"
}

sync_workspace() {
  echo "==> syncing the workspace (core, integrations, plugins, extras) into .venv" >&2
  "$UV" sync --all-packages --all-extras --quiet
}

as_root() {
  if [ "$(id -u)" = "0" ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

APT_UPDATED=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "cannot install $* automatically (no apt-get); install it and retry" >&2
    return 1
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  echo "==> apt-get install $*" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_uv
