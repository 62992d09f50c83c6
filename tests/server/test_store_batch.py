"""``store.batch.write_batch`` maintains the rollups per batch (``rollups.batch_mode`` +
``rollup_sets``), and they stay what :func:`rollups.rebuild` recomputes — on SQLite and PostgreSQL,
batch after batch of random starts, ends that move runs (agent, day, session, user, tags, status,
totals), LLM calls arriving before or after their run, duplicates and re-deliveries, mixed with
ordinary writes (per-row triggers) in between.

Costs are multiples of 1/64 so that float sums are exact in any order.
"""

from __future__ import annotations

import random
import threading
from typing import Any, ClassVar

import pytest
from rollup_check import kept_and_recomputed
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from waxell_observe.store import Store, bulk, rollups, writer
from waxell_observe.store.batch import (
    LLM_COLUMNS,
    RUN_COLUMNS,
    SCORE_COLUMNS,
    SPAN_COLUMNS,
    STEP_COLUMNS,
    RowBatch,
    write_batch,
)

DAY = 86_400.0
T0 = 1_700_006_400.0  # a UTC midnight


def assert_exact(store: Store) -> None:
    kept, recomputed = kept_and_recomputed(store)
    assert kept == recomputed


# -- rows in the pipeline's shape ------------------------------------------------------------------

_RUN_DEFAULTS: dict[str, Any] = {
    "workflow_name": "default",
    "status": "running",
    "error": "",
    "error_type": "",
    "traceback": "",
    "session_id": "",
    "user_id": "",
    "user_group": "",
    "parent_run_id": "",
    "root_run_id": "",
    "interaction_mode": "autonomous",
    "ended_at": None,
    "inputs": {},
    "metadata": {},
    "tags": {},
    "result": {},
    "conversation": {},
    "governance": {},
    "auto_collected": False,
    "tokens_in": 0,
    "tokens_out": 0,
    "total_cost": 0.0,
    "llm_call_count": 0,
    "step_count": 0,
    "span_count": 0,
    "trace_id": "",
    "source": "sdk",
}
_JSON = {
    "inputs",
    "metadata",
    "tags",
    "result",
    "conversation",
    "governance",
    "attributes",
    "output",
    "input",
}


class Rows:
    """Builds tuples in ``store.batch`` column orders (JSON columns encoded for the store)."""

    def __init__(self, store: Store) -> None:
        self.encode = bulk.json_encoder(store.dialect)

    def _tuple(self, columns: tuple[str, ...], values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(self.encode(values[c]) if c in _JSON else values[c] for c in columns)

    def run(self, **fields: Any) -> tuple[Any, ...]:
        return self._tuple(RUN_COLUMNS, {**_RUN_DEFAULTS, **fields})

    def call(self, id: str, run_id: str, model: str = "m", provider: str = "p", tokens_in: int = 1,
             tokens_out: int = 1, cost: float = 0.0) -> tuple[Any, ...]:  # fmt: skip
        return self._tuple(
            LLM_COLUMNS,
            {
                "id": id,
                "run_id": run_id,
                "position": 1,
                "model": model,
                "provider": provider,
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "cost": cost,
                "task": "",
                "prompt_preview": "",
                "response_preview": "",
                "prompt_hash": "",
                "duration_ms": 1.0,
                "status": "ok",
                "error_type": "",
                "error_message": "",
                "started_at": T0,
                "parent_span_id": "",
                "attributes": {"k": 1},
            },
        )

    def records(self, batch: RowBatch, run_id: str, n: int) -> None:
        """A step, a span and a score of ``run_id`` (no rollup reads them; they ride along)."""
        batch.steps.append(self._tuple(STEP_COLUMNS, {"id": f"{run_id}-s{n}", "run_id": run_id, "position": n,
                                                      "seq": n, "name": "step", "output": {"n": n},
                                                      "started_at": T0}))  # fmt: skip
        batch.spans.append(
            self._tuple(
                SPAN_COLUMNS,
                {
                    "id": f"{run_id}-p{n}",
                    "run_id": run_id,
                    "position": n,
                    "kind": "tool",
                    "name": "t",
                    "status": "ok",
                    "duration_ms": 1.0,
                    "started_at": T0,
                    "parent_span_id": "",
                    "attributes": {},
                    "input": None,
                    "output": {"x": 1},
                    "error": "",
                },
            )
        )
        batch.scores.append(
            self._tuple(
                SCORE_COLUMNS,
                {
                    "id": f"{run_id}-q{n}",
                    "run_id": run_id,
                    "name": "q",
                    "data_type": "numeric",
                    "numeric_value": 0.5,
                    "string_value": None,
                    "comment": "",
                    "created_at": T0,
                },
            )
        )


def _cost(rng: random.Random) -> float:
    return rng.randint(0, 40) / 64


class RandomRuns:
    """Random runs and their changes: every column some rollup reads moves at some point."""

    AGENTS: ClassVar[list[str]] = ["alpha", "beta", "gamma"]
    MODELS: ClassVar[list[tuple[str, str]]] = [
        ("gpt-4o", "openai"),
        ("claude", "anthropic"),
        ("gemini", "google"),
    ]

    def __init__(self, rows: Rows, seed: int) -> None:
        self.rows, self.rng = rows, random.Random(seed)
        self.count = 0
        self.running: list[str] = []
        self.stored: list[str] = []
        self.calls = 0

    def fields(self) -> dict[str, Any]:
        rng = self.rng
        tags: dict[str, Any] = {}
        for key in rng.sample(["env", "team", "tier", "x" * 130], rng.randint(0, 3)):
            tags[key] = rng.choice(["prod", "dev", "v" * 300, 5, None, "staging"])
        return {
            "agent_name": rng.choice(self.AGENTS),
            "started_at": T0 + rng.randint(-3, 3) * DAY / 2 + rng.choice([0.0, 0.0004, -0.0004, 3600.5]),
            "session_id": rng.choice(["", "s1", "s2", "s3"]),
            "user_id": rng.choice(["", "u1", "u2"]),
            "parent_run_id": rng.choice(["", "", "p"]),
            "tags": tags,
        }

    def start(self) -> tuple[str, tuple[Any, ...]]:
        run_id = f"r{self.count}"
        self.count += 1
        self.running.append(run_id)
        self.stored.append(run_id)
        self.last_fields = self.fields()
        return run_id, self.rows.run(run_id=run_id, **self.last_fields)

    def end(self, run_id: str) -> tuple[Any, ...]:
        rng = self.rng
        fields = self.fields() if rng.random() < 0.3 else {**self.last_fields}  # 30%: everything moves
        if rng.random() < 0.5:
            fields["tags"] = {**fields["tags"], "done": rng.choice(["yes", "no"])}
        started = fields["started_at"]
        return self.rows.run(
            run_id=run_id, **fields, status=rng.choice(["success", "error", "blocked"]),
            ended_at=started + rng.choice([0.0, 5.0, DAY]), tokens_in=rng.randint(0, 500),
            tokens_out=rng.randint(0, 50), total_cost=_cost(rng), llm_call_count=1,
        )  # fmt: skip

    def call(self, run_id: str) -> tuple[Any, ...]:
        self.calls += 1
        model, provider = self.rng.choice(self.MODELS)
        return self.rows.call(f"c{self.calls}", run_id, model, provider, self.rng.randint(1, 900),
                              self.rng.randint(1, 90), _cost(self.rng))  # fmt: skip

    def batch(self) -> RowBatch:
        rng = self.rng
        batch = RowBatch()
        for _ in range(rng.randint(0, 6)):
            run_id, row = self.start()
            batch.started[run_id] = row
        for run_id in rng.sample(self.running, min(len(self.running), rng.randint(0, 5))):
            self.running.remove(run_id)
            batch.ended[run_id] = self.end(run_id)  # some started in this very batch
        for _ in range(rng.randint(0, 6)):
            target = rng.choice(
                [*self.stored, f"r{self.count}", f"r{self.count + 1}"] if self.stored else ["r0"]
            )
            call = self.call(target)  # targets may not be stored yet: counted when their run comes
            batch.llm_calls.append(call)
            if rng.random() < 0.2:
                batch.llm_calls.append(call)  # the same call twice in one batch
        for run_id in rng.sample(self.stored, min(2, len(self.stored))):
            self.rows.records(batch, run_id, self.rng.randint(1, 3))
        return batch


# -- the tests -------------------------------------------------------------------------------------


def test_random_batches_keep_rollups_exact(store_url: str) -> None:
    store = Store(store_url)
    try:
        runs = RandomRuns(Rows(store), seed=7)
        sent: list[RowBatch] = []
        for step in range(40):
            batch = runs.batch()
            write_batch(store, batch)
            sent.append(batch)
            if step % 5 == 4:  # a re-delivery of an earlier batch (a retry after a lost acknowledgement)
                before, _ = kept_and_recomputed(store)
                write_batch(store, runs.rng.choice(sent[-3:]))
                assert kept_and_recomputed(store)[0] == before  # runs end once here: nothing changes
            if step % 7 == 3:  # an ordinary write in between: the per-row triggers count it
                with store.write() as conn:
                    writer.start_run(
                        conn,
                        {
                            "run_id": f"w{step}",
                            "agent_name": "beta",
                            "started_at": T0 + step,
                            "session_id": "s1",
                            "tags": {"env": "prod"},
                        },
                    )
                    writer.add_llm_calls(conn, f"w{step}", [{"id": f"wc{step}", "model": "m", "cost": 0.25}])
                    writer.refresh_totals(conn, [f"w{step}"])
            assert_exact(store)
        with store.read() as conn:
            stored = conn.execute(text("SELECT count(*) FROM runs")).scalar()
            counted = conn.execute(
                text("SELECT count(*) FROM llm_calls c JOIN runs r ON r.run_id = c.run_id")
            ).scalar()
        assert stored and stored > 100 and counted and counted > 100  # the scenario did exercise something
    finally:
        store.dispose()


def test_a_batch_written_twice_counts_once(store_url: str) -> None:
    store = Store(store_url)
    try:
        rows = Rows(store)
        batch = RowBatch()
        batch.ended["a"] = rows.run(
            run_id="a",
            agent_name="x",
            started_at=T0,
            status="success",
            session_id="s",
            user_id="u",
            tags={"env": "prod"},
            total_cost=0.5,
        )
        batch.llm_calls += [rows.call("ca", "a", cost=0.25), rows.call("cb", "a", cost=0.25)]
        rows.records(batch, "a", 1)
        write_batch(store, batch)
        first, _ = kept_and_recomputed(store)
        write_batch(store, batch)
        again, recomputed = kept_and_recomputed(store)
        assert first == again == recomputed
        assert again["rollup_calls"] == {(_day(store, T0), "x", "m", "p"): [2, 2, 2, 0.5]}
    finally:
        store.dispose()


def test_an_end_moves_the_run_and_its_calls_and_shrinks_bounds(store_url: str) -> None:
    """Starts in one batch, ends in the next: to another agent and day, another session (the old
    one's bounds shrink back to its other run), other tags; the calls stored in between move too."""
    store = Store(store_url)
    try:
        rows = Rows(store)
        first = RowBatch()
        first.started["a"] = rows.run(run_id="a", agent_name="x", started_at=T0, session_id="s", user_id="u",
                                      tags={"env": "prod"})  # fmt: skip
        first.started["b"] = rows.run(
            run_id="b", agent_name="x", started_at=T0 + 10, session_id="s", user_id="u"
        )
        first.llm_calls.append(rows.call("c1", "a", cost=0.5))
        write_batch(store, first)
        second = RowBatch()
        second.ended["a"] = rows.run(run_id="a", agent_name="y", started_at=T0 - DAY, session_id="t",
                                     user_id="u", status="error", ended_at=T0 + 50, tags={"team": "t1"},
                                     total_cost=0.75)  # fmt: skip
        second.llm_calls.append(rows.call("c2", "a", cost=0.25))
        write_batch(store, second)
        kept, recomputed = kept_and_recomputed(store)
        assert kept == recomputed
        assert kept["rollup_sessions"] == [
            ("s", 1, 0, 0.0, T0 + 10, T0 + 10),
            ("t", 1, 0, 0.75, T0 - DAY, T0 + 50),
        ]
        assert kept["rollup_calls"] == {(_day(store, T0 - DAY), "y", "m", "p"): [2, 2, 2, 0.75]}
    finally:
        store.dispose()


def test_calls_before_their_run_are_counted_when_it_comes(store_url: str) -> None:
    store = Store(store_url)
    try:
        rows = Rows(store)
        early = RowBatch()
        early.llm_calls.append(rows.call("c1", "late", cost=0.5))
        write_batch(store, early)
        assert kept_and_recomputed(store)[0]["rollup_calls"] == {}
        batch = RowBatch()
        batch.ended["late"] = rows.run(run_id="late", agent_name="x", started_at=T0, status="success")
        batch.llm_calls.append(rows.call("c2", "late", cost=0.25))
        write_batch(store, batch)
        kept, recomputed = kept_and_recomputed(store)
        assert kept == recomputed
        assert kept["rollup_calls"] == {(_day(store, T0), "x", "m", "p"): [2, 2, 2, 0.75]}
    finally:
        store.dispose()


def test_a_failed_batch_changes_nothing_and_leaves_the_triggers_on(store_url: str) -> None:
    store = Store(store_url)
    try:
        rows = Rows(store)
        good = RowBatch()
        good.ended["a"] = rows.run(
            run_id="a", agent_name="x", started_at=T0, status="success", total_cost=0.5
        )
        write_batch(store, good)
        before, _ = kept_and_recomputed(store)
        bad = RowBatch()
        bad.ended["b"] = rows.run(run_id="b", agent_name="x", started_at=T0, status="success")
        bad.llm_calls.append(rows.call("c1", "b", cost=0.5))
        bad.scores.append(("q", "b", None, "numeric", 1.0, None, "", T0))  # name is NOT NULL
        with pytest.raises(IntegrityError):
            write_batch(store, bad)
        after, recomputed = kept_and_recomputed(store)
        assert before == after == recomputed
        with store.write() as conn:  # an ordinary write afterwards is counted by the per-row triggers
            writer.start_run(conn, {"run_id": "w", "agent_name": "x", "started_at": T0, "status": "success"})
        kept, recomputed = kept_and_recomputed(store)
        assert kept == recomputed
        assert kept["rollup_runs"][(_day(store, T0), "x", "success", True)][0] == 2
    finally:
        store.dispose()


def test_batch_mode_ends_with_its_block(store_url: str) -> None:
    """Statements after the block, in the same transaction, are followed by the per-row triggers."""
    store = Store(store_url)
    try:
        rows = Rows(store)
        with store.write() as conn:
            with rollups.batch_mode(conn):
                pass
            writer.start_run(conn, {"run_id": "w", "agent_name": "x", "started_at": T0})
        write_batch(store, RowBatch(ended={"b": rows.run(run_id="b", agent_name="x", started_at=T0)}))
        kept, recomputed = kept_and_recomputed(store)
        assert kept == recomputed
        assert kept["rollup_runs"][(_day(store, T0), "x", "running", True)][0] == 2
        if not store.is_sqlite:
            return
        with store.read() as conn:  # SQLite's switch is a row that never outlives its transaction
            assert conn.execute(text("SELECT count(*) FROM rollup_batch")).scalar() == 0
    finally:
        store.dispose()


def test_triggers_of_another_version_are_left_to_do_the_work(store_url: str) -> None:
    """Another version of waxell-observe opened the store and installed its own per-row triggers,
    which do not stand aside for batches: write_batch notices (``schema_info``) and lets them follow
    every row instead of adding its own changes to theirs."""
    from waxell_observe.store import rollup_rows

    store = Store(store_url)
    try:
        with store.write() as conn:  # what an older version leaves: triggers that always fire, its version
            if store.dialect == "postgresql":
                for statement in rollup_rows.ddl("postgresql"):
                    conn.exec_driver_sql(statement.replace(f"WHEN ({rollup_rows._PG_ENABLED})", "").replace(
                        f"{rollup_rows._PG_ENABLED} AND ", ""))  # fmt: skip
            else:
                rollup_rows.drop_sqlite_triggers(conn)
                for statement in rollup_rows.ddl("sqlite"):
                    conn.exec_driver_sql(
                        statement.replace(f"WHEN {rollup_rows._SQLITE_ENABLED} BEGIN", "BEGIN").replace(
                            f"{rollup_rows._SQLITE_ENABLED} AND ", ""
                        )
                    )
            conn.execute(text("UPDATE schema_info SET value = '2' WHERE key = 'rollups'"))
        runs = RandomRuns(Rows(store), seed=11)
        for _ in range(12):
            write_batch(store, runs.batch())
        assert_exact(store)
        with store.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM rollup_runs")).scalar()
    finally:
        store.dispose()


@pytest.mark.postgres
def test_postgres_concurrent_batches_and_compactions_stay_exact(postgres_url: str) -> None:
    """Writers sharing every rollup key (one agent, one day, one session and user) write batches at
    once while compactions run: the statement-level triggers append, never wait, never lose."""
    from waxell_observe.config import db_url_from

    store = Store(db_url_from(postgres_url))
    try:
        rows = Rows(store)
        errors: list[BaseException] = []

        def writer_thread(w: int) -> None:
            try:
                for b in range(8):
                    first, second = RowBatch(), RowBatch()
                    for i in range(10):
                        run_id = f"w{w}-{b}-{i}"
                        fields = {
                            "run_id": run_id,
                            "agent_name": "hot",
                            "started_at": T0 + i,
                            "session_id": "s",
                            "user_id": "u",
                            "tags": {"k": "v"},
                        }
                        first.started[run_id] = rows.run(**fields)
                        first.llm_calls.append(rows.call(f"{run_id}-c", run_id, cost=0.25))
                        second.ended[run_id] = rows.run(**fields, status="success", ended_at=T0 + 100 + w,
                                                        total_cost=0.25, tokens_in=3)  # fmt: skip
                    write_batch(store, first)
                    write_batch(store, second)
                    with store.engine.connect() as conn, conn.begin():
                        rollups.compact(conn)
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=writer_thread, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == [] and not any(t.is_alive() for t in threads)
        kept, recomputed = kept_and_recomputed(store)
        assert kept == recomputed
        assert kept["rollup_sessions"] == [("s", 320, 960, 80.0, T0, T0 + 103)]
    finally:
        store.dispose()


@pytest.mark.postgres
def test_postgres_batch_mode_follows_every_kind_of_change(postgres_url: str) -> None:
    """In batch mode the statement-level triggers follow any statement, not only write_batch's
    inserts: updates of every column a rollup reads, several rows at once, renames and deletes."""
    from waxell_observe.config import db_url_from

    store = Store(db_url_from(postgres_url))
    try:
        rows = Rows(store)
        batch = RowBatch()
        for i in range(12):
            run_id = f"r{i}"
            batch.ended[run_id] = rows.run(
                run_id=run_id,
                agent_name=["a", "b", "c"][i % 3],
                started_at=T0 + i * 3600.0,
                status="success",
                ended_at=T0 + i * 3600.0 + 60,
                session_id=f"s{i % 2}",
                user_id=f"u{i % 3}" if i % 4 else "",
                parent_run_id="" if i % 5 else "r0",
                tags={"env": "prod", "team": f"t{i % 2}"},
                tokens_in=10 * i,
                tokens_out=i,
                total_cost=(i + 1) / 64,
            )
            batch.llm_calls += [
                rows.call(f"{run_id}-c{j}", run_id, f"m{j}", "p", i + j, j, (i + j) / 64) for j in range(2)
            ]
        write_batch(store, batch)
        assert_exact(store)
        changes = [
            "UPDATE runs SET agent_name = 'd' WHERE run_id = 'r1'",
            f"UPDATE runs SET started_at = started_at - {2 * DAY} WHERE run_id IN ('r2', 'r3')",
            "UPDATE runs SET status = 'error', parent_run_id = 'r0' WHERE run_id = 'r4'",
            "UPDATE runs SET session_id = 's9', user_id = '' WHERE run_id = 'r5'",
            "UPDATE runs SET started_at = started_at + 5000 WHERE session_id = 's1'",
            "UPDATE runs SET ended_at = NULL WHERE run_id = 'r6'",
            'UPDATE runs SET tags = \'{"env": "qa", "n": 5}\'::jsonb WHERE run_id = \'r7\'',
            "UPDATE runs SET total_cost = total_cost + 0.5, tokens_in = tokens_in + 7 WHERE run_id = 'r8'",
            "UPDATE runs SET conversation = '{\"turns\": 2}'::jsonb",  # no rollup reads it: nothing moves
            "UPDATE llm_calls SET model = 'o3', cost = 0.75 WHERE id = 'r9-c0'",
            "UPDATE llm_calls SET run_id = 'r3' WHERE id = 'r9-c1'",
            "DELETE FROM llm_calls WHERE id = 'r10-c0'",
            "DELETE FROM runs WHERE run_id = 'r11'",
            "UPDATE runs SET run_id = 'renamed' WHERE run_id = 'r0'",
            "DELETE FROM runs WHERE session_id = 's0' AND run_id <> 'renamed'",
        ]
        for change in changes:
            with store.write() as conn, rollups.batch_mode(conn):
                conn.execute(text(change))
            assert_exact(store)
    finally:
        store.dispose()


def _day(store: Store, ts: float) -> str:
    with store.read() as conn:
        return str(conn.execute(text(f"SELECT {rollups.day_sql(store.dialect, str(ts))}")).scalar())
