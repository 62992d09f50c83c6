"""A full disk, for real: a small tmpfs holds the store or the journal.

Needs permission to mount (root in the test machine); skipped otherwise.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from programs import Programs


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    with _tmpfs(tmp_path / f"disk-{uuid.uuid4().hex[:6]}", "4m") as path:
        yield path


FILL = """
import logging, sys, time
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
import waxell_observe
from waxell_observe import WaxellContext
n = int(sys.argv[1])
for i in range(n):
    with WaxellContext(agent_name="full", enforce_policy=False) as ctx:
        ctx.record_step("s", output={"pad": "x" * 300})
started = time.monotonic()
report = waxell_observe.flush_sync(timeout=20)
took = time.monotonic() - started
journal = report.sinks.get("journal")
store = report.sinks["embedded"]
print(journal.dropped if journal else 0, store.journaled, store.sent, f"{took:.2f}", flush=True)
"""


def test_a_full_disk_under_the_store_keeps_records_journaled_and_says_so(
    programs: Programs, small_disk: Path
) -> None:
    """SQLite answers "database or disk is full": the records stay in the journal (on another
    disk), the warning names the full disk, and flush() does not wait its whole timeout for it.
    Once there is room again, the next process delivers every record."""
    filler = small_disk / "filler"
    with open(filler, "wb") as handle:  # leave ~1 MB: the schema fits, the runs do not
        handle.write(b"\0" * (3 * 1024 * 1024))
    db = small_disk / "observe.db"
    done = programs.run(FILL, "2000", WAXELL_DB=str(db))
    journal_dropped, journaled, sent, took = done.stdout.split()
    assert int(journal_dropped) == 0
    assert int(journaled) + int(sent) == 6000  # start, step, end per run: delivered or kept
    assert int(journaled) > 0
    assert float(took) < 20.0  # gave up waiting for a destination failing persistently
    assert "disk full" in done.stderr and "WARNING" in done.stderr
    filler.unlink()
    programs.db = db
    programs.recover()
    assert programs.count("runs", "WHERE agent_name = 'full' AND status = 'success'") == 2000
    assert programs.count("steps") == 2000


def test_a_full_disk_under_the_journal_drops_exactly_and_warns_once(
    programs: Programs, small_disk: Path
) -> None:
    """The disk is smaller than a segment (4 MB against 8 MiB): smaller segments are reserved and
    filled, so the frames the disk has room for are kept; the rest are dropped, counted exactly,
    and the warning (once) names the full disk."""
    blocker = programs.tmp_path / "not-a-directory"
    blocker.write_text("")
    done = programs.run(
        FILL, "20000", WAXELL_JOURNAL_DIR=str(small_disk / "journal"), WAXELL_DB=str(blocker / "observe.db")
    )
    journal_dropped, journaled, sent, _took = done.stdout.split()
    assert int(sent) == 0
    assert int(journal_dropped) > 0
    assert int(journaled) > 5000  # ~1,000 frames per 64 KiB segment reserved: what fits is kept
    assert int(journal_dropped) + int(journaled) == 60000
    assert done.stderr.count("cannot journal records") == 1
    assert "disk full" in done.stderr
