#!/usr/bin/env bash
# Run the lint gate (scripts/lint.sh), then the whole test suite. Installs what it needs first: uv,
# the workspace, Node.js for the dashboard's type check, a PostgreSQL
# server (Debian package postgresql) and Chromium (Debian package chromium) for the
# dashboard's browser tests. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"

have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_postgres || apt_install postgresql
[ -x /usr/bin/chromium ] || apt_install chromium

sync_workspace
# The lint gate first (ruff, ruff format, mypy, tsc): a finding fails the run before the tests start.
WAXELL_WORKSPACE_SYNCED=1 bash scripts/lint.sh
mkdir -p test-artifacts
exec "$UV" run --no-sync pytest -n "${WAXELL_TEST_WORKERS:-2}" "$@"
