#!/usr/bin/env bash
# Run the demo: an instrumented agent, offline, on the embedded store, printing its trace.
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
sync_workspace
exec "$UV" run --no-sync waxell-observe demo "$@"
