"""Benchmark: records/s through ``store.batch.write_batch`` (the SDK's path into the embedded store),
SQLite and PostgreSQL, against bare tables in the same run.

Rows are shaped as the pipeline's store destination builds them (JSON columns already encoded):
every run has one run row, one LLM call, two steps, one span and one score, with a few tags, a
session and a user. Two shapes of batches:

* ``complete``: each batch carries whole runs (the final run row and its five records) —
  records per batch = 6 x runs;
* ``split``: each batch carries the start rows of new runs and the end rows and records of the
  runs started in the previous batch, so every run row is inserted and then updated (its status,
  end, totals and tags change) — records per batch = 7 x runs.

Baseline, measured in the same run with the same rows, interleaved batch by batch with the real
store (so a busy machine slows both alike): the five tables with their primary keys only (no secondary index,
no trigger, no rollup),
written in one transaction per batch the cheapest way for each database (SQLite: ``executemany``;
PostgreSQL: ``COPY`` into a staging table, then ``INSERT ... SELECT ... ON CONFLICT``). The ratio
store / baseline is what the indexes and the rollups cost.

Printed per second of wall time and per second of CPU time — this thread's, plus the PostgreSQL
server's processes' when the server is local (read from ``/proc``) — which moves less than wall time
when other programs share the machine. After timing, each store's rollups are compared with a
recomputation (``rollups.rebuild``).

    uv run python benchmarks/bench_store_ingest.py [--runs 20000] [--sizes 50,500,2000]
        [--shapes complete,split] [--no-postgres | --no-sqlite] [--pg-url postgresql://...]

PostgreSQL is started in a temporary directory unless ``--pg-url`` names a server (a database
per measurement is created in it and dropped afterwards). The script also runs against an older
waxell-observe (``PYTHONPATH`` pointing at its ``src``) to compare versions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server_ingest import postgres  # a temporary PostgreSQL server, as the other benchmarks use

from waxell_observe.store import Store, bulk, rollups, schema
from waxell_observe.store.batch import (
    LLM_COLUMNS,
    RUN_COLUMNS,
    SCORE_COLUMNS,
    SPAN_COLUMNS,
    STEP_COLUMNS,
    RowBatch,
    write_batch,
)

AGENTS = [f"agent-{i}" for i in range(12)]
MODELS = [("gpt-4o", "openai"), ("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-flash", "google")]
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TABLES = (
    (schema.runs, RUN_COLUMNS),
    (schema.llm_calls, LLM_COLUMNS),
    (schema.steps, STEP_COLUMNS),
    (schema.spans, SPAN_COLUMNS),
    (schema.scores, SCORE_COLUMNS),
)


# -- rows -----------------------------------------------------------------------------------------


def run_rows(i: int, encode: Callable[[Any], Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Run ``i``'s start row and end row (``RUN_COLUMNS`` order)."""
    run_id = f"{i:032x}"
    started = T0 + i * 0.5
    tokens_in, tokens_out = 200 + i % 997, 20 + i % 113
    common = (run_id, AGENTS[i % len(AGENTS)], "default")
    person = (f"sess-{i // 7}" if i % 3 else "", f"user-{i % 251}", "", "", "", "autonomous", started)
    inputs, metadata = encode({"question": f"what is {i}?"}), encode({"tenant": "acme", "build": "1.2.3"})
    start = (
        *common, "running", "", "", "", *person, None, inputs, metadata,
        encode({"env": "prod" if i % 4 else "staging"}), encode({}), encode({}), encode({}), False,
        0, 0, 0.0, 0, 0, 0, "", "sdk",
    )  # fmt: skip
    end = (
        *common,
        "success" if i % 13 else "error",
        "",
        "",
        "",
        *person,
        started + 2.5,
        inputs,
        metadata,
        encode({"env": "prod" if i % 4 else "staging", "team": f"t{i % 7}"}),
        encode({"output": "an answer " * 4}),
        encode({}),
        encode({}),
        False,
        tokens_in,
        tokens_out,
        (i % 29 + 1) / 64,
        1,
        2,
        1,
        "",
        "sdk",
    )
    return start, end


def record_rows(
    i: int, encode: Callable[[Any], Any]
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], tuple[Any, ...], tuple[Any, ...]]:
    """Run ``i``'s LLM call, two steps, span and score."""
    run_id = f"{i:032x}"
    started = T0 + i * 0.5
    model, provider = MODELS[i % 3]
    call = (
        f"c{i:031x}", run_id, 1, model, provider, 200 + i % 997, 20 + i % 113, (i % 29 + 1) / 64, "",
        "prompt text " * 16, "response text " * 16, "", 812.5, "ok", "", "", started + 0.1, "",
        encode({"temperature": 0.2, "max_tokens": 512, "stream": False}),
    )  # fmt: skip
    steps = [
        (f"s{i:030x}{j}", run_id, j + 1, j + 1, ("retrieve", "answer")[j], encode({"docs": 3, "ok": True}),
         started + 0.2 * j)
        for j in range(2)
    ]  # fmt: skip
    span = (
        f"p{i:031x}",
        run_id,
        3,
        "tool",
        "search",
        "ok",
        12.5,
        started + 0.3,
        "",
        encode({"tool": "search", "k": 5}),
        encode({"q": "weather"}),
        encode({"hits": 3}),
        "",
    )
    score = (f"q{i:031x}", run_id, "quality", "numeric", 0.8, None, "", started + 3)
    return call, steps, span, score


def batches(shape: str, size: int, total: int, encode: Callable[[Any], Any]) -> Iterator[RowBatch]:
    """The batches writing ``total`` runs, ``size`` at a time."""
    count = total // size
    for b in range(count + (1 if shape == "split" else 0)):
        batch = RowBatch()
        first = b * size
        if shape == "split" and b < count:  # runs of this batch start now...
            for i in range(first, first + size):
                run_id = f"{i:032x}"
                batch.started[run_id] = run_rows(i, encode)[0]
        ending = range(first - size, first) if shape == "split" else range(first, first + size)
        for i in ending:  # ... and end in the next one (or here, when complete)
            if i < 0:
                continue
            batch.ended[f"{i:032x}"] = run_rows(i, encode)[1]
            call, steps, span, score = record_rows(i, encode)
            batch.llm_calls.append(call)
            batch.steps.extend(steps)
            batch.spans.append(span)
            batch.scores.append(score)
        yield batch


# -- the baseline: bare tables ----------------------------------------------------------------------


def bare_metadata() -> MetaData:
    """The five tables with their columns and primary keys only."""
    bare = MetaData()
    for table, _ in TABLES:
        Table(table.name, bare, *(column._copy() for column in table.columns))
    return bare


class Bare:
    """Bare tables in their own database, written as cheaply as the database allows."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.pg = self.engine.dialect.name == "postgresql"
        bare_metadata().create_all(self.engine)
        if not self.pg:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        self.conn = self.engine.raw_connection()
        if self.pg:
            with self.conn.cursor() as cur:  # type: ignore[attr-defined]
                for table, _ in TABLES:
                    cur.execute(
                        f"CREATE TEMP TABLE stage_{table.name} (LIKE {table.name}) ON COMMIT DELETE ROWS"
                    )
            self.conn.commit()
        else:
            self.conn.driver_connection.isolation_level = None  # type: ignore[union-attr]
            self.conn.execute("PRAGMA synchronous=NORMAL")  # type: ignore[attr-defined]

    def write(self, batch: RowBatch) -> None:
        started = [row for run_id, row in batch.started.items() if run_id not in batch.ended]
        parts = [
            ("runs", RUN_COLUMNS, started, "DO NOTHING"),
            ("runs", RUN_COLUMNS, list(batch.ended.values()), _update(RUN_COLUMNS)),
            ("llm_calls", LLM_COLUMNS, batch.llm_calls, "DO NOTHING"),
            ("steps", STEP_COLUMNS, batch.steps, "DO NOTHING"),
            ("spans", SPAN_COLUMNS, batch.spans, "DO NOTHING"),
            ("scores", SCORE_COLUMNS, batch.scores, "DO NOTHING"),
        ]
        conn: Any = self.conn
        if self.pg:
            with conn.cursor() as cur:
                for name, columns, rows, conflict in parts:
                    if not rows:
                        continue
                    names = ", ".join(f'"{c}"' for c in columns)
                    with cur.copy(f"COPY stage_{name} ({names}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                    cur.execute(
                        f"INSERT INTO {name} ({names}) SELECT {names} "
                        f"FROM stage_{name} ON CONFLICT {conflict}"
                    )
                    cur.execute(f"DELETE FROM stage_{name}")
            conn.commit()
            return
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        for name, columns, rows, conflict in parts:
            if rows:
                names = ", ".join(f'"{c}"' for c in columns)
                marks = ", ".join("?" for _ in columns)
                cur.executemany(f"INSERT INTO {name} ({names}) VALUES ({marks}) ON CONFLICT {conflict}", rows)
        cur.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def _update(columns: tuple[str, ...]) -> str:
    return "(run_id) DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != "run_id")


# -- measuring ------------------------------------------------------------------------------------


def exact(store: Store) -> bool:
    """Whether the store's rollups equal a recomputation (PostgreSQL's pending changes summed)."""
    keys = {
        "rollup_runs": "day, agent_name, status, is_root",
        "rollup_calls": "day, agent_name, model, provider",
        "rollup_tags": "tag_key, tag_value, day, status, is_root",
        "rollup_sessions": "session_id",
        "rollup_users": "user_id",
    }

    def state(conn: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for table, key in keys.items():
            if table in ("rollup_sessions", "rollup_users"):
                query = f"SELECT * FROM {table} ORDER BY {key}"
            else:
                count = "calls" if table == "rollup_calls" else "runs"
                sums = (
                    "sum(calls), sum(tokens_in), sum(tokens_out)"
                    if count == "calls"
                    else "sum(runs), sum(tokens)"
                )
                query = (
                    f"SELECT {key}, {sums}, round(CAST(sum(cost) AS numeric), 9) FROM {table} GROUP BY {key} "
                    f"HAVING sum({count}) <> 0 ORDER BY {key}"
                )
            found[table] = [tuple(row) for row in conn.execute(text(query))]
        found["run_tags"] = [
            tuple(r) for r in conn.execute(text("SELECT * FROM run_tags ORDER BY run_id, tag_key"))
        ]
        return found

    with store.engine.connect() as conn:
        transaction = conn.begin()
        lock = getattr(rollups, "lock_compaction", None)  # older versions: no lock (keep the store idle)
        if lock is not None:
            lock(conn)
        kept = state(conn)
        rollups.rebuild(conn)
        recomputed = state(conn)
        transaction.rollback()
    return kept == recomputed


class ServerCpu:
    """CPU seconds used so far by a local PostgreSQL cluster (the postmaster and all its children:
    backends, WAL writer, checkpointer, ...), from ``/proc``; ``None`` for a server elsewhere."""

    def __init__(self, url: str) -> None:
        import psycopg

        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        stat = self._stat(backend)
        self.postmaster = stat[0] if stat is not None else None
        self.tick = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _stat(pid: int) -> tuple[int, int] | None:
        """(parent pid, utime + stime in ticks) of ``pid``."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return int(fields[1]), int(fields[11]) + int(fields[12])

    def seconds(self) -> float | None:
        if self.postmaster is None:
            return None
        ticks = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = self._stat(int(entry))
                if stat is not None and (stat[0] == self.postmaster or int(entry) == self.postmaster):
                    ticks += stat[1]
        return ticks / self.tick


class Clock:
    """Wall time and CPU time (this thread, plus the PostgreSQL server's when it is local)."""

    def __init__(self, server: ServerCpu | None) -> None:
        self.server = server
        self.wall = self.cpu = 0.0
        self.cpu_known = True

    @contextmanager
    def timing(self) -> Iterator[None]:
        server_before = self.server.seconds() if self.server is not None else 0.0
        cpu, wall = time.thread_time(), time.perf_counter()
        yield
        self.wall += time.perf_counter() - wall
        self.cpu += time.thread_time() - cpu
        if self.server is not None:
            server_after = self.server.seconds()
            if server_before is None or server_after is None:
                self.cpu_known = False
            else:
                self.cpu += server_after - server_before


def measure(store_url: str, bare_url: str, shape: str, size: int, total: int) -> dict[str, Any]:
    """Records/s of ``write_batch`` and of the baseline (interleaved batch by batch), per second of
    wall time and per second of CPU time, and whether the store's rollups are exact."""
    store = Store(store_url)
    bare = Bare(bare_url)
    server = ServerCpu(store_url) if store.dialect == "postgresql" else None
    encode = bulk.json_encoder(store.dialect)
    clocks = Clock(server), Clock(server)
    records = 0
    try:
        for batch in batches(shape, size, total, encode):
            with clocks[0].timing():
                write_batch(store, batch)
            with clocks[1].timing():
                bare.write(batch)
            records += batch.records
        ok = exact(store)
    finally:
        bare.close()
        store.dispose()
    known = all(c.cpu_known for c in clocks)
    return {
        "wall": records / clocks[0].wall,
        "bare_wall": records / clocks[1].wall,
        "cpu": records / clocks[0].cpu if known else None,
        "bare_cpu": records / clocks[1].cpu if known else None,
        "exact": ok,
    }


@contextmanager
def databases(kind: str, pg_url: str | None, workdir: Path) -> Iterator[Callable[[str], str]]:
    """Yields a function making a fresh database (SQLAlchemy URL) for a name."""
    if kind == "sqlite":
        yield lambda name: f"sqlite:///{workdir / name}.db"
        return
    import psycopg

    from waxell_observe.config import db_url_from

    with _given(pg_url) if pg_url else postgres() as url:
        admin = url.rsplit("/", 1)[0] + "/postgres"
        made: list[str] = []

        def fresh(name: str) -> str:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            made.append(name)
            return db_url_from(url.rsplit("/", 1)[0] + f"/{name}")

        try:
            yield fresh
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                for name in made:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="runs written per measurement")
    parser.add_argument("--sizes", default="50,500,2000", help="runs per batch")
    parser.add_argument("--shapes", default="complete,split")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--pg-url", help="an existing PostgreSQL server (postgresql://user@host:port/any)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    kinds = [k for k, skip in (("sqlite", args.no_sqlite), ("postgresql", args.no_postgres)) if not skip]
    print(
        f"{'store':<11} {'shape':<9} {'batch':>6} | {'wall rec/s':>10} {'bare':>8} {'ratio':>5} | "
        f"{'CPU rec/s':>10} {'bare':>8} {'ratio':>5} | exact"
    )
    with tempfile.TemporaryDirectory(prefix="waxell-bench-ingest-") as tmp:
        for kind in kinds:
            with databases(kind, args.pg_url, Path(tmp)) as fresh:
                for shape in shapes:
                    for size in sizes:
                        tag = f"{shape}_{size}"
                        m = measure(fresh(f"store_{tag}"), fresh(f"bare_{tag}"), shape, size, args.runs)
                        cpu = (
                            f"{m['cpu']:>10,.0f} {m['bare_cpu']:>8,.0f} {m['cpu'] / m['bare_cpu']:>5.2f}"
                            if m["cpu"] is not None
                            else f"{'-':>10} {'-':>8} {'-':>5}"
                        )
                        print(
                            f"{kind:<11} {shape:<9} {size:>6} | {m['wall']:>10,.0f} {m['bare_wall']:>8,.0f} "
                            f"{m['wall'] / m['bare_wall']:>5.2f} | {cpu} | {'yes' if m['exact'] else 'NO'}",
                            flush=True,
                        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
