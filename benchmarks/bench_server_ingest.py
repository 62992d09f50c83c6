"""Benchmark: control-plane ingest throughput over loopback (records/s), SQLite and PostgreSQL.

For each store, a real ``waxell-observe serve`` process is started on 127.0.0.1 and small runs —
one start, ``--batch-records`` records (LLM calls, steps, spans and scores in turn) and a
completion each — are delivered by one client process in two ways:

* the per-run protocol: ``runs/start/``, one request per record kind, ``runs/{id}/complete/``
  (``--clients`` threads, httpx with keep-alive);
* the batch endpoint: ``POST runs/batch/`` with ``--batch-runs`` runs per request
  (``--batch-clients`` threads). The request bodies are encoded before the clock starts, so the
  number is the server's (HTTP, JSON, validation, storage), not the client's.

Baselines measured in the same run, so the ratios do not depend on the machine: the same runs
written in-process into the same kind of store, with the per-run storage functions (one
transaction per part, as the per-run endpoints do) and with the batch storage
(``server.batch_ingest.write_runs``: what HTTP, JSON and validation add on top).

Throughput counts records (LLM calls + steps + spans + scores) stored per second of wall time.
On Linux the server measurements also say how many records were stored per CPU-second of the
server process (and of the PostgreSQL server): on a machine shared with other work, wall time
depends on what else runs, CPU time much less.
The older workload is measured too (``--no-large`` skips it): large runs of ``--records`` LLM
calls and steps sent with the per-run protocol, ``--batches`` records per request, against the
same runs written in-process.

    uv run python benchmarks/bench_server_ingest.py [--batch-runs 100,500] [--batch-total 20000]
        [--batch-records 4] [--batch-clients 2] [--per-run-runs 300] [--clients 4]
        [--batches 1,20,100 --runs 200 --records 100 | --no-large] [--no-postgres] [--no-sqlite]

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
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

OBSERVE = "/api/v1/observe"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_PG_DATA: list[Path | None] = [None]  # the data directory of the running postgres() server
_SERVER_PIDS: dict[str, int] = {}  # url -> pid of the server() process


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``; 0 elsewhere or when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    """The postgres() server's processes (postmaster and its children), Linux only."""
    data = _PG_DATA[0]
    try:
        master = int((data / "postmaster.pid").read_text().split()[0]) if data else 0
    except (OSError, ValueError, IndexError):
        return []
    pids = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    pids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return pids


class CpuMeter:
    """CPU seconds used by the server process and the database server (PostgreSQL) since start."""

    def __init__(self, url: str, postgres_used: bool) -> None:
        self.server_pid = _SERVER_PIDS.get(url, 0)
        self.postgres_used = postgres_used
        self.start = self._now()

    def _now(self) -> tuple[float, float]:
        database = sum(_cpu_seconds(p) for p in _postgres_pids()) if self.postgres_used else 0.0
        return _cpu_seconds(self.server_pid), database

    def used(self) -> tuple[float, float]:
        server, database = self._now()
        return server - self.start[0], database - self.start[1]


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server; yields a ``postgresql://`` URL of an empty database."""
    found = shutil.which("initdb")
    candidates = [str(Path(found).resolve().parent)] if found else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    bindir = next((Path(c) for c in candidates if (Path(c) / "pg_ctl").exists()), None)
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL binaries (initdb, pg_ctl) not found; install postgresql or use --no-postgres"
        )
    root = Path(tempfile.mkdtemp(prefix="waxell-bench-pg-"))
    _PG_DATA[0] = root / "data"
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
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
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
    _SERVER_PIDS[url] = proc.pid
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
                    reply = http.post(
                        f"{OBSERVE}/runs/start/", json={"agent_name": "bench", "run_id": run_id}
                    )
                    reply.raise_for_status()
                    calls, steps = _records(run_id, records)
                    for chunk in _chunks(calls, batch):
                        http.post(
                            f"{OBSERVE}/runs/{run_id}/llm-calls/", json={"calls": chunk}
                        ).raise_for_status()
                    for chunk in _chunks(steps, batch):
                        http.post(f"{OBSERVE}/runs/{run_id}/steps/", json={"steps": chunk}).raise_for_status()
                    http.post(
                        f"{OBSERVE}/runs/{run_id}/complete/", json={"status": "success"}
                    ).raise_for_status()
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
    from waxell_observe_server import ingest_store
    from waxell_observe_server.wire_models import CompleteBody, LLMCallIn, RunStartBody, StepIn

    from waxell_observe.config import db_url_from
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
    """One small run: a start, ``records`` records (LLM call, step, span, score, LLM call, ...) and a
    completion, as a ``runs/batch/`` entry (the per-run protocol sends the same parts)."""
    entry: dict = {
        "run_id": run_id,
        "start": {
            "agent_name": "bench",
            "workflow_name": "batch",
            "started_at": t0,
            "inputs": {"q": "capital?"},
        },
        "llm_calls": [],
        "steps": [],
        "spans": [],
        "scores": [],
        "complete": {"status": "success", "result": {"answer": "Paris"}, "ended_at": t0 + 1.5},
    }
    for i in range(records):
        kind = i % 4
        if kind == 0:
            entry["llm_calls"].append(
                {
                    "id": f"{run_id}-c{i}",
                    "model": "gpt-4o-mini",
                    "tokens_in": 120,
                    "tokens_out": 40,
                    "cost": 0.0001,
                    "task": "answer",
                    "prompt_preview": "What is the capital of France?",
                    "response_preview": "Paris.",
                    "duration_ms": 350.0,
                    "position": i + 1,
                    "started_at": t0 + 0.1,
                }
            )
        elif kind == 1:
            entry["steps"].append(
                {
                    "step_name": f"step-{i}",
                    "output": {"items": i, "note": "ok"},
                    "position": i + 1,
                    "started_at": t0 + 0.2,
                }
            )
        elif kind == 2:
            entry["spans"].append(
                {
                    "id": f"{run_id}-s{i}",
                    "name": "retrieve",
                    "kind": "retriever",
                    "position": i + 1,
                    "duration_ms": 12.5,
                    "started_at": t0 + 0.3,
                    "attributes": {"k": 3},
                }
            )
        else:
            entry["scores"].append({"id": f"{run_id}-q{i}", "name": "relevance", "numeric_value": 0.9,
                                    "created_at": t0 + 1.0})  # fmt: skip
    return entry


_PARTS = (("llm_calls", "llm-calls", "calls"), ("steps", "steps", "steps"), ("spans", "spans", "spans"),
          ("scores", "scores", "scores"))  # fmt: skip


def _run_in_parts(entry: dict) -> list[tuple[str, dict]]:
    """The per-run protocol's requests for one small run: ``(path, body)`` in order."""
    run_id = entry["run_id"]
    requests = [("runs/start/", {**entry["start"], "run_id": run_id})]
    for key, path, field in _PARTS:
        if entry[key]:
            requests.append((f"runs/{run_id}/{path}/", {field: entry[key]}))
    requests.append((f"runs/{run_id}/complete/", entry["complete"]))
    return requests


def small_runs_per_run(url: str, *, runs: int, records: int, clients: int, tag: str) -> float:
    """Records/s of small runs delivered with the per-run protocol (one request per part)."""
    t0 = time.time() - 60
    errors: list[BaseException] = []

    def client(worker: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                for n in range(worker, runs, clients):
                    for path, body in _run_in_parts(_batch_entry(f"{tag}-{n}", records, t0)):
                        http.post(f"{OBSERVE}/{path}", json=body).raise_for_status()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    elapsed = _timed_threads(client, clients)
    if errors:
        raise errors[0]
    return runs * records / elapsed


def _timed_threads(target: Any, count: int) -> float:
    threads = [threading.Thread(target=target, args=(w,)) for w in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def over_batch_endpoint(
    url: str, *, total_runs: int, batch_runs: int, records: int, clients: int, tag: str
) -> float:
    """Records/s of small runs stored through ``POST runs/batch/`` (bodies encoded before the clock
    starts: the number is the server's — HTTP, JSON, validation, storage — not the client's)."""
    import json

    t0 = time.time() - 60
    bodies = [
        json.dumps({"runs": [_batch_entry(f"{tag}-{n}", records, t0)
                             for n in range(start, min(start + batch_runs, total_runs))]}).encode()
        for start in range(0, total_runs, batch_runs)
    ]  # fmt: skip
    errors: list[BaseException] = []
    headers = {"content-type": "application/json"}

    def client(worker: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=120) as http:
                for body in bodies[worker::clients]:
                    reply = http.post(f"{OBSERVE}/runs/batch/", content=body, headers=headers)
                    reply.raise_for_status()
                    bad = [r for r in reply.json()["runs"] if r["status"] >= 400]
                    if bad:
                        raise RuntimeError(f"batch entries refused: {bad[:3]}")
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    elapsed = _timed_threads(client, clients)
    if errors:
        raise errors[0]
    return total_runs * records / elapsed


def small_runs_direct(db: str, *, runs: int, records: int, batch_runs: int, tag: str) -> tuple[float, float]:
    """Records/s of small runs written in-process: (per-run storage functions, one transaction per
    part as the per-run endpoints do; the batch storage, ``batch_runs`` runs per transaction)."""
    from waxell_observe_server import batch_ingest, ingest_store
    from waxell_observe_server.transactions import Writer
    from waxell_observe_server.wire_models import (
        BatchRunIn,
        CompleteBody,
        LLMCallIn,
        RunStartBody,
        ScoreIn,
        SpanIn,
        StepIn,
    )

    from waxell_observe.config import db_url_from
    from waxell_observe.store import get_store

    store = get_store(db_url_from(db))
    t0 = time.time() - 60
    models = {"llm_calls": LLMCallIn, "steps": StepIn, "spans": SpanIn, "scores": ScoreIn}
    adders = {
        "llm_calls": lambda conn, run, items, now: ingest_store.add_llm_calls(conn, run, items, None, now),
        "steps": lambda conn, run, items, now: ingest_store.add_steps(conn, run, items, None, now),
        "spans": ingest_store.add_spans,
        "scores": ingest_store.add_scores,
    }
    started = time.perf_counter()
    for n in range(runs):
        entry = _batch_entry(f"{tag}-p{n}", records, t0)
        now = time.time()
        with store.write() as conn:
            ingest_store.start_run(conn, RunStartBody(**entry["start"], run_id=entry["run_id"]), now)
        for key, items in entry.items():
            if key in models and items:
                with store.write() as conn:
                    run = ingest_store.lock_run(conn, entry["run_id"])
                    assert run is not None
                    adders[key](conn, run, [models[key](**item) for item in items], now)
        with store.write() as conn:
            run = ingest_store.lock_run(conn, entry["run_id"])
            assert run is not None
            ingest_store.complete_run(conn, run, CompleteBody(**entry["complete"]), now)
    per_run = runs * records / (time.perf_counter() - started)
    writer = Writer(store)
    batches = [
        [BatchRunIn.model_validate(_batch_entry(f"{tag}-b{n}", records, t0))
         for n in range(start, min(start + batch_runs, runs * 10))]
        for start in range(0, runs * 10, batch_runs)
    ]  # fmt: skip
    started = time.perf_counter()
    for entries in batches:
        batch_ingest.write_runs(writer, entries, time.time(), counted_at=time.time())
    batched = runs * 10 * records / (time.perf_counter() - started)
    return per_run, batched


def bench_store(name: str, db: str, args: argparse.Namespace) -> None:
    batches = [] if args.no_large else [int(b) for b in args.batches.split(",") if b]
    batch_sizes = [int(b) for b in args.batch_runs.split(",") if b]
    records = args.batch_records
    print(f"\n{name}:")
    direct_per_run, direct_batched = small_runs_direct(
        db,
        runs=args.per_run_runs,
        records=records,
        batch_runs=max(batch_sizes, default=500),
        tag=f"direct-{name}",
    )
    big_base = (
        direct(db, runs=args.runs, records=args.records, batch=max(batches), tag=f"big-{name}")
        if batches
        else 0.0
    )
    per_run = 0.0
    batched: dict[int, float] = {}
    big: dict[int, float] = {}
    cpu: dict[Any, tuple[float, float]] = {}
    with server(db) as url:
        over_batch_endpoint(
            url, total_runs=200, batch_runs=100, records=records, clients=1, tag=f"warm-{name}"
        )
        small_runs_per_run(url, runs=20, records=records, clients=args.clients, tag=f"warm-run-{name}")
        postgres_used = db.startswith("postgres")
        meter = CpuMeter(url, postgres_used)
        per_run = small_runs_per_run(
            url, runs=args.per_run_runs, records=records, clients=args.clients, tag=f"{name}-per-run"
        )
        cpu["per-run"] = meter.used()
        for size in batch_sizes:
            meter = CpuMeter(url, postgres_used)
            batched[size] = over_batch_endpoint(
                url, total_runs=args.batch_total, batch_runs=size, records=records,
                clients=args.batch_clients, tag=f"{name}-runs{size}",
            )  # fmt: skip
            cpu[size] = meter.used()
        for batch in batches:
            big[batch] = over_http(
                url,
                runs=args.runs,
                records=args.records,
                batch=batch,
                clients=args.clients,
                tag=f"{name}-b{batch}",
            )
    width = 64
    print(f"  small runs (1 start + {records} records + complete each), records/s:")

    def efficiency(key: Any, count: int) -> str:
        server_cpu, database_cpu = cpu.get(key, (0.0, 0.0))
        if not server_cpu:
            return ""
        text = f"; {count / server_cpu:6.0f} per server CPU-second"
        if database_cpu:
            text += f", {count / (server_cpu + database_cpu):6.0f} per server + PostgreSQL CPU-second"
        return text

    rows = [
        ("in-process, per-run storage (a transaction per part)", direct_per_run, ""),
        (
            f"in-process, batch storage ({max(batch_sizes, default=500)} runs per transaction)",
            direct_batched,
            "",
        ),
        (
            f"server, per-run protocol ({args.clients} client threads)",
            per_run,
            "  (" + efficiency("per-run", args.per_run_runs * records).lstrip("; ") + ")",
        ),
    ]
    for size, rate in batched.items():
        note = (
            f"  ({rate / per_run:5.1f}x per-run protocol, "
            f"{rate / direct_batched:4.2f}x in-process batch storage"
            f"{efficiency(size, args.batch_total * records)})"
        )
        rows.append(
            (
                f"server, runs/batch/ ({size} runs per request, {args.batch_clients} client threads)",
                rate,
                note,
            )
        )
    for label, rate, note in rows:
        print(f"    {label:<{width}}: {rate:9.0f}{note if note != '  ()' else ''}")
    if big:
        print(f"  large runs ({args.records} LLM calls and steps each, per-run protocol), records/s:")
        print(
            f"    {f'in-process, per-run storage ({max(batches)} records per transaction)':<{width}}: "
            f"{big_base:9.0f}"
        )
        for batch, rate in big.items():
            label = f"server, {batch} records per request ({args.clients} client threads)"
            print(f"    {label:<{width}}: {rate:9.0f}  ({rate / big_base:4.2f}x in-process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-records", type=int, default=4, help="records per small run")
    parser.add_argument(
        "--batch-runs", default="100,500", help="runs per runs/batch/ request (comma-separated)"
    )
    parser.add_argument(
        "--batch-total", type=int, default=20_000, help="small runs per runs/batch/ measurement"
    )
    parser.add_argument("--batch-clients", type=int, default=2, help="client threads for runs/batch/")
    parser.add_argument(
        "--per-run-runs", type=int, default=300, help="small runs per per-run protocol measurement"
    )
    parser.add_argument("--clients", type=int, default=4, help="client threads for the per-run protocol")
    parser.add_argument("--runs", type=int, default=200, help="large runs per measurement")
    parser.add_argument("--records", type=int, default=100, help="records (LLM calls + steps) per large run")
    parser.add_argument(
        "--batches", default="1,20,100", help="records per request for large runs (comma-separated)"
    )
    parser.add_argument("--no-large", action="store_true", help="skip the large runs (per-run protocol)")
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
