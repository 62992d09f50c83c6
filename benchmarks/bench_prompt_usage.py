"""Benchmark: the read API's prompt queries (``GET prompts/``, ``GET prompts/{name}/``) as stores grow.

For SQLite and PostgreSQL (a temporary cluster, as in ``bench_server_ingest.py``), fills a store in
bulk with ``--runs`` runs of 5 tool spans, 2 LLM calls and a score each; one run in 10 records the use
of one of 20 prompts of 5 versions (a ``prompt`` span), and another one in 10 sends a call carrying
a version's content hash; on top, one prompt (``hot``) is used by ``--hot`` runs. Then times
``prompt_overview`` (the list) and ``prompt_usage`` of an ordinary prompt and of ``hot`` (their
queries read only the uses of the prompts asked about, through the partial indexes
``ix_spans_prompt_use`` / ``ix_llm_calls_prompt_hash``: the time follows the number of uses, not the
size of the store).

    uv run python benchmarks/bench_prompt_usage.py [--runs 100000] [--hot 10000] [--repeat 7]
        [--no-postgres | --no-sqlite]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server_ingest import postgres  # a temporary PostgreSQL cluster

PROMPTS = 20
VERSIONS = 5
BATCH = 10_000


def _run(run_id: str, started: float, i: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "agent_name": f"agent-{i % 7}",
        "started_at": started,
        "status": "success",
        "tokens_in": 300,
        "tokens_out": 30,
        "total_cost": 0.002,
        "llm_call_count": 2,
    }


def _span(span_id: str, run_id: str, position: int, kind: str, name: str, attributes: Any) -> dict[str, Any]:
    return {
        "id": span_id,
        "run_id": run_id,
        "position": position,
        "kind": kind,
        "name": name,
        "attributes": attributes,
    }


def _call(call_id: str, run_id: str, position: int, prompt_hash: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "run_id": run_id,
        "position": position,
        "model": "gpt-4o-mini",
        "tokens_in": 150,
        "tokens_out": 15,
        "cost": 0.001,
        "prompt_hash": prompt_hash,
    }


def fill(url: str, count: int, hot: int) -> None:
    """The store described in the module doc."""
    from sqlalchemy import insert

    from waxell_observe.store import get_store
    from waxell_observe.store.prompts import add_prompt
    from waxell_observe.store.schema import llm_calls, runs, scores, spans

    store = get_store(url)
    with store.write() as conn:
        versions = [
            add_prompt(conn, f"prompt-{p:02d}", f"Prompt {p}, version {v}: answer {{{{q}}}}")
            for p in range(PROMPTS)
            for v in range(VERSIONS)
        ]
        hot_version = add_prompt(conn, "hot", "A prompt every agent uses: {{q}}")
    now = time.time()
    for start in range(0, count + hot, BATCH):
        rows: dict[Any, list[dict[str, Any]]] = {runs: [], spans: [], llm_calls: [], scores: []}
        for i in range(start, min(start + BATCH, count + hot)):
            run_id = f"{i:032x}"
            rows[runs].append(_run(run_id, now - (count + hot - i), i))
            rows[spans] += [_span(f"s{i}-{k}", run_id, k, "tool", "t", {}) for k in range(5)]
            hashes = ["", ""]
            if i >= count:  # the hot prompt
                rows[spans].append(
                    _span(f"p{i}", run_id, 9, "prompt", "prompt.use:hot", {"name": "hot", "version": 1})
                )
            elif i % 10 == 0:
                used = versions[(i // 10) % len(versions)]
                attributes = {"name": used["name"], "version": used["version"]}
                rows[spans].append(
                    _span(f"p{i}", run_id, 9, "prompt", "prompt.use:" + used["name"], attributes)
                )
            elif i % 10 == 5:
                hashes[1] = versions[(i // 10) % len(versions)]["content_hash"]
            rows[llm_calls] += [
                _call(f"c{i}-{k}", run_id, k, prompt_hash) for k, prompt_hash in enumerate(hashes)
            ]
            rows[scores].append(
                {
                    "id": f"q{i}",
                    "run_id": run_id,
                    "name": "accuracy",
                    "data_type": "numeric",
                    "numeric_value": 0.5,
                }
            )
        with store.write() as conn:
            for table, values in rows.items():
                conn.execute(insert(table), values)
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    assert hot_version["version"] == 1


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median milliseconds of ``repeat`` calls (after one warm-up) and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def bench(label: str, url: str, args: argparse.Namespace) -> None:
    from waxell_observe.store import get_store
    from waxell_observe.store.prompt_usage import prompt_overview, prompt_usage

    t0 = time.perf_counter()
    fill(url, args.runs, args.hot)
    print(f"{label}: filled {args.runs + args.hot:,} runs in {time.perf_counter() - t0:.0f} s")
    store = get_store(url)

    def read(fn: Callable[..., Any], *fn_args: Any) -> Callable[[], Any]:
        def run() -> Any:
            with store.read() as conn:
                return fn(conn, *fn_args)

        return run

    overview_ms, (page, _total) = timed(read(prompt_overview), args.repeat)
    uses = {row["name"]: row["run_count"] for row in page}
    print(f"  GET prompts/ ({len(page)} prompts, {sum(uses.values()):,} uses): {overview_ms:.1f} ms")
    for name in ("prompt-03", "hot"):
        ms, detail = timed(read(prompt_usage, name), args.repeat)
        print(f"  GET prompts/{name}/ ({detail['run_count']:,} runs used it): {ms:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--hot", type=int, default=10_000, help="runs that use the prompt 'hot'")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    args = parser.parse_args()
    from waxell_observe.config import db_url_from

    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            bench("SQLite", db_url_from(str(Path(tmp) / "prompts.db")), args)
    if not args.no_postgres:
        with postgres() as url:
            bench("PostgreSQL", db_url_from(url), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
