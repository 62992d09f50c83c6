"""A throwaway PostgreSQL cluster for tests (a temporary directory, 127.0.0.1 only).

Its own module so a test module can import it by name (``from postgres_cluster import
PostgresCluster``): several directories of the suite have a ``conftest.py``, so ``from conftest import``
is ambiguous once more than one is loaded.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

__all__ = ["PostgresCluster"]


_PG_ENV_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) are needed for the postgres tests; "
    "install them (Debian: `apt-get install postgresql`) or put them on PATH"
)


def _pg_bindir() -> Path:
    import glob
    import shutil

    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    pytest.fail(_PG_ENV_HINT, pytrace=False)


class PostgresCluster:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    def __init__(self, bindir: Path | None = None) -> None:
        """``bindir``: where initdb, pg_ctl and postgres are (default: the system's PostgreSQL)."""
        import shutil
        import socket
        import subprocess
        import tempfile

        self.bindir = bindir or _pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="waxell-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as `postgres`
            if shutil.which("runuser") is None:
                pytest.fail(
                    "running as root needs `runuser` to start PostgreSQL as user postgres", pytrace=False
                )
            self._prefix = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        try:
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
            )
            self._run(
                "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start"
            )
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            shutil.rmtree(self.root, ignore_errors=True)
            pytest.fail(
                f"could not start PostgreSQL: {exc}\n{exc.stdout}\n{exc.stderr}\n{log}", pytrace=False
            )
        self._counter = 0

    def _run(self, tool: str, *args: str) -> None:
        import subprocess

        subprocess.run(
            [*self._prefix, str(self.bindir / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def create_database(self) -> str:
        self._counter += 1
        name = f"waxell_test_{os.getpid()}_{self._counter}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        import shutil
        import subprocess

        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
