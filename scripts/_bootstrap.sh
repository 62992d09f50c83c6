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
  if [ -x "$tools/bin/uv" ]; then
    UV="$tools/bin/uv"
    return
  fi
  echo "==> installing uv into $tools" >&2
  if python3 -m venv "$tools" 2>/dev/null; then
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check uv
    UV="$tools/bin/uv"
    return
  fi
  # No venv module (Debian without python3-venv): install uv for this user with pip instead.
  python3 -m pip install --quiet --disable-pip-version-check --user uv 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages uv
  UV="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts", "posix_user"))')/uv"
}

sync_workspace() {
  echo "==> syncing the workspace (core, integrations, plugins, extras) into .venv" >&2
  # --compile-bytecode: the suite starts hundreds of short-lived Python processes; without bytecode
  # on disk (PYTHONDONTWRITEBYTECODE set, or a read-only tree) each compiles every module it imports.
  "$UV" sync --all-packages --all-extras --quiet --compile-bytecode
  # the workspace's own packages are installed editable: uv leaves their sources to us
  "$UV" run --no-sync python -m compileall -q -j 0 src server/src integrations plugins >/dev/null
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
