"""Benchmark: control-plane ingest throughput over loopback (records/s), SQLite and PostgreSQL.

For each store, a real ``waxell-observe serve`` process is started on 127.0.0.1 and the
records are delivered in two ways:

* the per-run protocol: several client threads (httpx, keep-alive) deliver runs as the wire
  protocol does: ``runs/start/``, then the run's LLM calls and steps in batches of B records,
  then ``runs/{id}/complete/`` (``--batches``);
* the batch endpoint (``POST runs/batch/``): runs of one start, ``--batch-records`` records
  (LLM calls, steps, spans and scores in turn) and a completion, ``--batch-runs`` runs per
  request, sent by ``--batch-clients`` threads of this one process. The request bodies are
  encoded before the clock starts, so the number is the server's (HTTP, JSON, validation,
  storage) and not the client's.

Throughput counts records (LLM calls + steps + spans + scores) stored per second of wall time.

Baselines measured in the same run, so the ratios do not depend on the machine:

* ``direct``: the same records written in-process straight into the same kind of store
  (``server.ingest_store``, one transaction per batch, one thread) — what the server adds on
  top of the database (HTTP, JSON, validation, auth);
* ``batch=1``: the server with one record per request — what batching buys.

    uv run python benchmarks/bench_server_ingest.py [--runs 200] [--records 100] [--clients 4]
        [--batches 1,20,100] [--batch-runs 100,500] [--batch-total 20000] [--batch-records 4]
        [--batch-clients 2] [--only-batch] [--no-postgres]

PostgreSQL is started in a temporary directory (``initdb``/``pg_ctl`` on PATH or under
/usr/lib/postgresql/*/bin; as root it runs as user ``postgres``) with its default settings
(``fsync`` on).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

O = "/api/v1/observe"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server; yields a ``postgresql://`` URL of an empty database."""
    found = shutil.which("initdb")
    candidates = [str(Path(found).resolve().parent)] if found else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    bindir = next((Path(c) for c in candidates if (Path(c) / "pg_ctl").exists()), None)
    if bindir is None:
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found; install postgresql or use --no-postgres")
    root = Path(tempfile.mkdtemp(prefix="waxell-bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    port = free_port()
    data = root / "data"

    def run(tool: str, *args: str) -> None:
        subprocess.run([*prefix, str(bindir / tool), *args], check=True, capture_output=True, timeout=120)

    try:
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root}"
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        yield f"postgresql://postgres@127.0.0.1:{port}/bench"
    finally:
        try:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def server(db: str) -> Iterator[str]:
    port = free_port()
    exe = str(Path(sys.executable).parent / "waxell-observe")
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--db", db, "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"waxell-observe serve did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _records(run_id: str, count: int) -> tuple[list[dict], list[dict]]:
    calls = [
        {"id": f"{run_id}-c{i}", "model": "gpt-4o-mini", "tokens_in": 120, "tokens_out": 40, "cost": 0.0001,
         "task": "answer", "prompt_preview": "What is the capital of France?", "response_preview": "Paris.",
         "duration_ms": 350.0, "position": i + 1}
        for i in range(count // 2)
    ]  # fmt: skip
    steps = [
        {"step_name": f"step-{i}", "output": {"items": i, "note": "ok"}, "position": i + 1}
        for i in range(count - count // 2)
    ]
    return calls, steps


def _chunks(items: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def over_http(url: str, *, runs: int, records: int, batch: int, clients: int, tag: str) -> float:
    """Records/s delivered to the server at ``url``."""
    errors: list[BaseException] = []

    def client(worker: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                for n in range(worker, runs, clients):
                    run_id = f"{tag}-{n}"
                    reply = http.post(f"{O}/runs/start/", json={"agent_name": "bench", "run_id": run_id})
                    reply.raise_for_status()
                    calls, steps = _records(run_id, records)
                    for chunk in _chunks(calls, batch):
                        http.post(f"{O}/runs/{run_id}/llm-calls/", json={"calls": chunk}).raise_for_status()
                    for chunk in _chunks(steps, batch):
                        http.post(f"{O}/runs/{run_id}/steps/", json={"steps": chunk}).raise_for_status()
                    http.post(f"{O}/runs/{run_id}/complete/", json={"status": "success"}).raise_for_status()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return runs * records / elapsed


def direct(db: str, *, runs: int, records: int, batch: int, tag: str) -> float:
    """Records/s written in-process with the store's writer (the same rows the server writes)."""
    from waxell_observe.config import db_url_from
    from waxell_observe.server import ingest_store
    from waxell_observe.server.wire_models import CompleteBody, LLMCallIn, RunStartBody, StepIn
    from waxell_observe.store import get_store

    store = get_store(db_url_from(db))
    started = time.perf_counter()
    for n in range(runs):
        run_id = f"{tag}-{n}"
        now = time.time()
        with store.write() as conn:
            ingest_store.start_run(conn, RunStartBody(agent_name="bench", run_id=run_id), now)
        calls, steps = _records(run_id, records)
        for chunk in _chunks(calls, batch):
            with store.write() as conn:
                run = ingest_store.lock_run(conn, run_id)
                assert run is not None
                ingest_store.add_llm_calls(conn, run, [LLMCallIn(**c) for c in chunk], None, now)
        for chunk in _chunks(steps, batch):
            with store.write() as conn:
                run = ingest_store.lock_run(conn, run_id)
                assert run is not None
                ingest_store.add_steps(conn, run, [StepIn(**s) for s in chunk], None, now)
        with store.write() as conn:
            run = ingest_store.lock_run(conn, run_id)
            assert run is not None
            ingest_store.complete_run(conn, run, CompleteBody(status="success"), now)
    return runs * records / (time.perf_counter() - started)


def _batch_entry(run_id: str, records: int, t0: float) -> dict:
    """One run for ``runs/batch/``: a start, ``records`` records (LLM call, step, span, score,
    LLM call, ...) and a completion."""
    entry: dict = {
        "run_id": run_id,
        "start": {"agent_name": "bench", "workflow_name": "batch", "started_at": t0, "inputs": {"q": "capital?"}},
        "llm_calls": [], "steps": [], "spans": [], "scores": [],
        "complete": {"status": "success", "result": {"answer": "Paris"}, "ended_at": t0 + 1.5},
    }  # fmt: skip
    for i in range(records):
        kind = i % 4
        if kind == 0:
            entry["llm_calls"].append(
                {"id": f"{run_id}-c{i}", "model": "gpt-4o-mini", "tokens_in": 120, "tokens_out": 40, "cost": 0.0001,
                 "task": "answer", "prompt_preview": "What is the capital of France?", "response_preview": "Paris.",
                 "duration_ms": 350.0, "position": i + 1, "started_at": t0 + 0.1}
            )  # fmt: skip
        elif kind == 1:
            entry["steps"].append({"step_name": f"step-{i}", "output": {"items": i, "note": "ok"}, "position": i + 1,
                                   "started_at": t0 + 0.2})  # fmt: skip
        elif kind == 2:
            entry["spans"].append({"id": f"{run_id}-s{i}", "name": "retrieve", "kind": "retriever", "position": i + 1,
                                   "duration_ms": 12.5, "started_at": t0 + 0.3, "attributes": {"k": 3}})  # fmt: skip
        else:
            entry["scores"].append({"id": f"{run_id}-q{i}", "name": "relevance", "numeric_value": 0.9,
                                    "created_at": t0 + 1.0})  # fmt: skip
    return entry


def over_batch_endpoint(url: str, *, total_runs: int, batch_runs: int, records: int, clients: int, tag: str) -> float:
    """Records/s stored through ``POST runs/batch/`` (bodies encoded before the clock starts)."""
    import json

    t0 = time.time() - 60
    bodies = [
        json.dumps({"runs": [_batch_entry(f"{tag}-{n}", records, t0) for n in range(start, min(start + batch_runs, total_runs))]}).encode()
        for start in range(0, total_runs, batch_runs)
    ]  # fmt: skip
    errors: list[BaseException] = []
    headers = {"content-type": "application/json"}

    def client(worker: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=120) as http:
                for body in bodies[worker::clients]:
                    reply = http.post(f"{O}/runs/batch/", content=body, headers=headers)
                    reply.raise_for_status()
                    bad = [r for r in reply.json()["runs"] if r["status"] >= 400]
                    if bad:
                        raise RuntimeError(f"batch entries refused: {bad[:3]}")
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return total_runs * records / elapsed


def bench_store(name: str, db: str, args: argparse.Namespace) -> None:
    batches = [int(b) for b in args.batches.split(",")] if not args.only_batch else []
    batch_sizes = [int(b) for b in args.batch_runs.split(",") if b]
    biggest = max(batches, default=100)
    base = direct(db, runs=args.runs, records=args.records, batch=biggest, tag=f"direct-{name}")
    print(f"\n{name}:")
    print(f"  direct in-process writes ({args.runs} runs x {args.records} records, batch={biggest}):"
          f" {base:10.0f} records/s  (baseline)")  # fmt: skip
    results: dict[int, float] = {}
    batched: dict[int, float] = {}
    with server(db) as url:
        over_http(url, runs=max(args.clients, 8), records=10, batch=10, clients=args.clients, tag=f"warm-{name}")
        over_batch_endpoint(url, total_runs=200, batch_runs=100, records=args.batch_records, clients=1,
                            tag=f"warm-batch-{name}")  # fmt: skip
        for batch in batches:
            results[batch] = over_http(
                url, runs=args.runs, records=args.records, batch=batch, clients=args.clients, tag=f"{name}-b{batch}"
            )
        for size in batch_sizes:
            batched[size] = over_batch_endpoint(
                url, total_runs=args.batch_total, batch_runs=size, records=args.batch_records,
                clients=args.batch_clients, tag=f"{name}-runs{size}",
            )  # fmt: skip
    unbatched = results.get(1)
    if results:
        print(f"  per-run protocol ({args.runs} runs x {args.records} records, {args.clients} client threads):")
    for batch, rate in results.items():
        line = f"    records per request={batch:<4}: {rate:10.0f} records/s  ({rate / base:5.2f}x direct"
        if unbatched and batch != 1:
            line += f", {rate / unbatched:5.1f}x batch=1"
        print(line + ")")
    if batched:
        print(f"  batch endpoint ({args.batch_total} runs of 1 start + {args.batch_records} records + complete,"
              f" {args.batch_clients} client threads):")  # fmt: skip
    best_per_run = max(results.values(), default=0.0)
    for size, rate in batched.items():
        line = f"    runs per request={size:<5}: {rate:10.0f} records/s  ({rate / base:5.2f}x direct"
        if best_per_run:
            line += f", {rate / best_per_run:5.1f}x best per-run"
        print(line + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per per-run measurement")
    parser.add_argument("--records", type=int, default=100, help="records (LLM calls + steps) per run (per-run protocol)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (per-run protocol)")
    parser.add_argument("--batches", default="1,20,100", help="records per request to measure (comma-separated)")
    parser.add_argument("--batch-runs", default="100,500", help="runs per batch-endpoint request (comma-separated)")
    parser.add_argument("--batch-total", type=int, default=20_000, help="runs per batch-endpoint measurement")
    parser.add_argument("--batch-records", type=int, default=4, help="records per run sent through runs/batch/")
    parser.add_argument("--batch-clients", type=int, default=2, help="client threads for runs/batch/")
    parser.add_argument("--only-batch", action="store_true", help="skip the per-run protocol measurements")
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    args = parser.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="waxell-bench-") as tmp:
            bench_store("SQLite", str(Path(tmp) / "bench.db"), args)
    if not args.no_postgres:
        with postgres() as url:
            bench_store("PostgreSQL", url, args)


if __name__ == "__main__":
    main()
