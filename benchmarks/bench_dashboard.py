"""Benchmark: the dashboard's API requests on a store with 100,000 runs and a run with 1,000 spans.

For SQLite and PostgreSQL (a temporary cluster, as in ``bench_server_ingest.py``), fills a
store through ``waxell_observe.store.writer`` (bulk inserts; the store's triggers keep the read
side's rollups as for any write), starts a real ``waxell-observe serve`` process on it
(127.0.0.1, free port) and times the requests the dashboard's pages make: the runs page
(``runs/`` with totals: default, filtered, sorted, a deep page), the run detail of a run with
1,000 spans (``runs/{id}/``), sessions, users, costs and agents. Each request is also timed on
a baseline store of 1,000 runs (same shapes), so the printed ratio shows how the page scales
with 100x the runs; ``/healthz`` gives the HTTP floor. PostgreSQL stores are compacted and
vacuumed after filling, as a store in service is.

    uv run python benchmarks/bench_dashboard.py [--runs 100000] [--repeat 15] [--browser]
        [--no-postgres | --no-sqlite]

``--browser`` also times, in headless Chromium (``/usr/bin/chromium``), how long the runs page
and the 1,000-span run page take from navigation to fully drawn. The script also runs against
an older waxell-observe (``PYTHONPATH`` pointing at its ``src``) to compare versions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server_ingest import postgres, server  # the same helpers: a real `serve`, a temporary PostgreSQL

AGENTS = [f"agent-{i}" for i in range(40)]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-flash"]
STATUSES = ["success"] * 17 + ["error", "blocked", "interrupted"]
BIG_RUN = "b" * 32
BIG_RUN_SPANS = 1000


def fill(url: str, count: int, seed: int = 7) -> None:
    """``count`` runs (one LLM call each) plus the 1,000-span run, written in bulk."""
    from waxell_observe.store import get_store, writer
    from waxell_observe.store.schema import llm_calls, runs, spans

    rng = random.Random(seed)
    store = get_store(url)
    now = time.time()
    batch = 10_000
    for start in range(0, count, batch):
        run_rows, call_rows = [], []
        for i in range(start, min(start + batch, count)):
            started = now - (count - i) * 30.0
            tokens_in, tokens_out = rng.randint(100, 8000), rng.randint(10, 1500)
            model = MODELS[i % len(MODELS)]
            cost = round(tokens_in * 2.5e-6 + tokens_out * 1e-5, 10)
            run_id = f"{i:032x}"
            run_rows.append(
                {
                    "run_id": run_id,
                    "agent_name": AGENTS[i % len(AGENTS)],
                    "workflow_name": "default" if i % 3 else "chat",
                    "status": STATUSES[i % len(STATUSES)],
                    "session_id": f"sess-{i // 5}" if i % 2 else "",
                    "user_id": f"user-{i % 997}",
                    "user_group": "pro" if i % 4 == 0 else "free",
                    "started_at": started,
                    "ended_at": started + rng.uniform(0.2, 20.0),
                    "tags": {"env": "prod" if i % 3 else "staging", "team": f"t{i % 7}"},
                    "tokens_in": tokens_in,
                    "tokens_out": tokens_out,
                    "total_cost": cost,
                    "llm_call_count": 1,
                }
            )
            call_rows.append(
                {
                    "id": f"c{i:031x}",
                    "run_id": run_id,
                    "position": 1,
                    "model": model,
                    "provider": "x",
                    "tokens_in": tokens_in,
                    "tokens_out": tokens_out,
                    "cost": cost,
                    "started_at": started + 0.1,
                    "duration_ms": 800.0,
                }
            )
        with store.write() as conn:
            writer.insert_ignore(conn, runs, run_rows)
            writer.insert_ignore(conn, llm_calls, call_rows)
    started = now - 5
    with store.write() as conn:
        writer.insert_ignore(
            conn,
            runs,
            [{"run_id": BIG_RUN, "agent_name": "agent-big", "started_at": started, "ended_at": started + 4,
              "status": "success", "span_count": BIG_RUN_SPANS}],
        )  # fmt: skip
        writer.insert_ignore(
            conn,
            spans,
            [
                {
                    "id": f"s{j:031x}",
                    "run_id": BIG_RUN,
                    "position": j + 1,
                    "kind": ["tool", "retrieval", "decision", "reasoning", "policy"][j % 5],
                    "name": f"span-{j}",
                    "duration_ms": 2.0 + j % 13,
                    "started_at": started + j * 0.004,
                    "attributes": {"n": j},
                    "input": {"query": f"q{j}"},
                    "output": {"answer": f"a{j}"},
                }
                for j in range(BIG_RUN_SPANS)
            ],
        )
    if store.dialect == "postgresql":
        # A store in service: rollup changes folded in (the store's compactor does this about a
        # second after writes), statistics and the visibility map up to date (autovacuum's job).
        try:
            from waxell_observe.store import rollups
        except ImportError:  # a version without rollups (to measure it against this one)
            rollups = None  # type: ignore[assignment]
        if rollups is not None:
            with store.write() as conn:
                rollups.compact(conn)
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


REQUESTS = [
    ("HTTP floor: /healthz", "/healthz", {}),
    ("runs page (newest 50 + totals)", "/api/v1/read/runs/", {}),
    ("runs page, agent filter", "/api/v1/read/runs/", {"agent_name": "agent-7"}),
    ("runs page, status=error", "/api/v1/read/runs/", {"status": "error"}),
    ("runs page, tag team:t3", "/api/v1/read/runs/", {"tag": "team:t3"}),
    ("runs page, last hour", "/api/v1/read/runs/", {"since": "__hour__"}),
    ("runs page, sorted by cost", "/api/v1/read/runs/", {"order_by": "total_cost"}),
    ("runs page, deep page (offset 50,000)", "/api/v1/read/runs/", {"offset": "__half__"}),
    ("run detail, 1,000 spans", f"/api/v1/read/runs/{BIG_RUN}/", {}),
    ("agents (filter drop-down)", "/api/v1/read/agents/", {}),
    ("sessions page", "/api/v1/read/sessions/", {}),
    ("users page", "/api/v1/read/users/", {}),
    ("costs page (default: last 30 days)", "/api/v1/read/costs/", {"since": "__30d__"}),
    ("costs page (all time)", "/api/v1/read/costs/", {}),
]


def time_requests(base: str, runs: int, repeat: int) -> dict[str, tuple[float, float]]:
    results = {}
    with httpx.Client(base_url=base, timeout=120) as http:
        for name, path, params in REQUESTS:
            now = int(time.time())
            special = {
                "__hour__": str(now - 3600),
                "__30d__": str(now - 30 * 86400),
                "__half__": str(runs // 2),
            }
            params = {k: special.get(v, v) for k, v in params.items()}
            response = http.get(path, params=params)  # warm-up
            response.raise_for_status()
            samples = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                http.get(path, params=params).raise_for_status()
                samples.append((time.perf_counter() - t0) * 1000)
            samples.sort()
            results[name] = (statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)])
    return results


def browser_times(base: str, repeat: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        print("  (skipped: /usr/bin/chromium is missing)")
        return {}
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-sync",
    ]
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=args)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        for name, hash_ in [("runs page", "#/runs"), ("run with 1,000 spans", f"#/runs/{BIG_RUN}")]:
            samples = []
            for _ in range(repeat):
                page.goto("about:blank")
                t0 = time.perf_counter()
                page.goto(f"{base}/{hash_}")
                page.wait_for_function(
                    "h => document.getElementById('main').dataset.rendered === h", arg=hash_
                )
                samples.append((time.perf_counter() - t0) * 1000)
            out[name] = statistics.median(samples)
        browser.close()
    return out


def bench_backend(label: str, urls: dict[str, str], args: argparse.Namespace) -> None:
    """Fill a baseline and a big store of one backend, time every request on both, print the table."""
    from waxell_observe.config import db_url_from

    timings: dict[str, dict[str, tuple[float, float]]] = {}
    browser: dict[str, dict[str, float]] = {}
    for size, count in (("baseline", args.baseline_runs), ("big", args.runs)):
        t0 = time.perf_counter()
        fill(db_url_from(urls[size]), count)
        print(
            f"{label}: filled {count:,} runs (+ a run with {BIG_RUN_SPANS:,} spans) in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        with server(urls[size]) as base:
            timings[size] = time_requests(base, count, args.repeat)
            if args.browser:
                browser[size] = browser_times(base, max(3, args.repeat // 3))
    big, base = timings["big"], timings["baseline"]
    print(
        f"\n{label}: median / p95 in ms over {args.repeat} requests; "
        f"ratio = median at {args.runs:,} runs / at {args.baseline_runs:,}"
    )
    print(f"{'request':42} {'median':>9} {'p95':>9} {'baseline':>9} {'ratio':>7}")
    for name, _path, _params in REQUESTS:
        median, p95 = big[name]
        print(f"{name:42} {median:9.1f} {p95:9.1f} {base[name][0]:9.1f} {median / base[name][0]:7.2f}")
    if browser.get("big"):
        print(f"\n{label}: Chromium, navigation to fully drawn (median ms)")
        for name, ms in browser["big"].items():
            print(
                f"{name:42} {ms:9.1f} {'':9} {browser['baseline'][name]:9.1f} "
                f"{ms / browser['baseline'][name]:7.2f}"
            )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--baseline-runs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--browser", action="store_true", help="also time page loads in headless Chromium")
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    args = parser.parse_args()

    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="waxell-bench-") as tmp:
            bench_backend("SQLite", {size: f"{tmp}/{size}.db" for size in ("baseline", "big")}, args)
    if not args.no_postgres:
        with postgres() as url:
            import psycopg

            admin = url.rsplit("/", 1)[0]
            with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
                for size in ("baseline", "big"):
                    conn.execute(f"CREATE DATABASE bench_{size}")
            bench_backend("PostgreSQL", {size: f"{admin}/bench_{size}" for size in ("baseline", "big")}, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
