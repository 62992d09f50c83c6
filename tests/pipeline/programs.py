"""Real processes that share one test's store and journal (used by the fault-matrix tests)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any


class Programs:
    """Runs Python programs in real processes that share this test's store and journal."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = Path(os.environ["WAXELL_DB"])
        self.journal = Path(os.environ["WAXELL_JOURNAL_DIR"])
        self.tmp_path = tmp_path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
        env.update(
            WAXELL_DB=str(self.db), WAXELL_JOURNAL_DIR=str(self.journal), WAXELL_DISABLE_PLUGINS="otel"
        )
        env["WAXELL_CONFIG_FILE"] = str(self.tmp_path / "no-config")
        env.update(extra)
        return env

    def run(
        self, source: str, *args: str, timeout: float = 120, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-c", source, *args], env=self.env(**extra), capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        return done

    def popen(self, source: str, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", source, *args], env=self.env(**extra), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def count(self, table: str, where: str = "") -> int:
        if not self.db.exists():
            return 0
        with sqlite3.connect(self.db) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table} {where}").fetchone()[0])

    def journals(self) -> list[str]:
        if not self.journal.exists():
            return []
        return sorted(p.name for p in self.journal.iterdir() if not p.name.startswith("."))

    def recover(self) -> Any:
        """What a later process does on start: adopt the journals of ended processes and deliver them."""
        from waxell_observe.pipeline.pipeline import recover

        return recover(timeout=60)
