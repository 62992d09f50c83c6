#!/usr/bin/env bash
# The lint gate: ruff (rules), ruff format --check, mypy --strict and tsc over the dashboard's
# JavaScript. scripts/test.sh runs it before pytest, so CI fails fast on any finding.
# Installs what it needs: uv and the workspace (see _bootstrap.sh), Node.js and npm (Debian
# packages nodejs, npm) and the pinned TypeScript from package-lock.json (npm ci).
# What each check covers and why: docs/development.md.
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"

[ "${WAXELL_WORKSPACE_SYNCED:-0}" = 1 ] || sync_workspace

command -v npm >/dev/null 2>&1 || apt_install nodejs npm

# npm ci wipes node_modules; do it only when the lockfile changed since the last install.
if ! cmp -s package-lock.json node_modules/.waxell-installed-lock 2>/dev/null; then
  echo "==> npm ci (TypeScript for the dashboard check)" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json node_modules/.waxell-installed-lock
fi

failed=0
run_check() {
  echo "==> $*" >&2
  "$@" || failed=1
}
run_check "$UV" run --no-sync ruff check --no-fix .
run_check "$UV" run --no-sync ruff format --check .
run_check "$UV" run --no-sync mypy
run_check node_modules/.bin/tsc -p tsconfig.json
if [ "$failed" != 0 ]; then
  echo "lint failed: fix the findings above (docs/development.md)" >&2
  exit 1
fi
echo "==> lint clean" >&2
