"""Benchmark: how fast the pipeline drains its journal into each destination (records/s).

Runs are recorded first with the drainer held (everything waits in the journal), then the
drainer is run alone until the destination has everything. Records are frames: a run's start
and end count one each, each LLM call, step, span and score one. Printed per destination:

* ``embedded sqlite`` / ``embedded postgres``: the embedded store (``store.batch.write_batch``);
* ``remote sqlite`` / ``remote postgres``: our control plane (``waxell-observe serve`` on
  127.0.0.1) through its batch endpoint, and through the per-run protocol for comparison;
* ``backlog``: the runs journaled while the control plane was down, drained after it starts (by
  a next process adopting the journal);
* ``live backlog``: the same, delivered by the process that recorded them, still running: its
  drainer has been failing for ``--down-seconds`` (so its retries are as far apart as they get)
  when the server comes back; timed from the moment the server answers.

Baseline in the same run: ``decode only`` — reading and decoding the same journal without
delivering (what the pipeline costs before any destination).

Where the time goes, on Linux: the CPU seconds of the SDK's process (the drainer and the
threads sending its batches), of the server process (remote destinations) and of every
PostgreSQL process, over the timed drain. The drainer keeps two batches in flight to our
server, so the wall time of a remote drain is less than the sum of the three (one batch at a
time, it was about their sum).

    uv run python benchmarks/bench_pipeline.py [--runs 5000] [--no-postgres] [--no-per-run]
    uv run python benchmarks/bench_pipeline.py --backlog-only --no-postgres [--down-seconds 15]
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
import time
from pathlib import Path
from typing import Any

RECORDS_PER_RUN = 6  # start, llm call, step, tool span, score, end


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def record(n: int) -> None:
    from waxell_observe import WaxellContext

    for i in range(n):
        with WaxellContext(agent_name="bench", enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=150)
            ctx.record_step("step", output={"i": i})
            ctx.record_tool_call(name="search", input={"q": "x"}, output={"hits": 3})
            ctx.record_score("quality", 0.5)


def live_backlog(n: int, flag: str) -> None:
    """Record ``n`` runs (the server is down), wait for ``flag`` (it is up), then print how long
    this process's own drainer takes to deliver them."""
    import waxell_observe

    record(n)
    while not os.path.exists(flag):
        time.sleep(0.005)
    started = time.perf_counter()
    report = waxell_observe.flush_sync(timeout=120)
    print(f"LIVE {time.perf_counter() - started:.3f} {report.sent} {report.pending}", flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``; 0 elsewhere or when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux ``/proc``): as root PostgreSQL runs under
    ``runuser``, its server processes are grandchildren."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


class Meter:
    """CPU seconds of the processes watched (a server, PostgreSQL's processes) since the start."""

    def __init__(self, server: int = 0, postgres: int = 0) -> None:
        self.server, self.postgres = server, postgres
        self.start = self._now()

    def _now(self) -> tuple[float, float]:
        server = cpu_seconds(self.server) if self.server else 0.0
        database = sum(cpu_seconds(p) for p in descendants(self.postgres)) if self.postgres else 0.0
        return server, database

    def used(self) -> tuple[float, float]:
        server, database = self._now()
        return server - self.start[0], database - self.start[1]


def drain_once(
    configure: dict[str, str], runs: int, *, per_run: bool = False, meter: Any = None
) -> tuple[float, float, int]:
    """Record ``runs`` with the drainer held, then drain; (wall s, SDK CPU s, frames sent).
    ``meter``: called with no argument when the clock starts (e.g. :class:`Meter`)."""
    os.environ.update(configure)
    import waxell_observe
    from waxell_observe.config import set_config
    from waxell_observe.pipeline import drainer as drainer_module
    from waxell_observe.pipeline import pipeline as pipeline_module

    set_config(None)
    pipeline_module.reset(timeout=5)
    held = drainer_module.Drainer.ensure_running
    drainer_module.Drainer.ensure_running = lambda self: None  # type: ignore[method-assign]
    try:
        record(1)  # opens the destination (store schema, HTTP client) outside the measure
        current = pipeline_module.pipeline()
        drainer = current.drainer
        drainer._urgent = 1
        while drainer.cycle():
            pass
        if per_run:
            for destination in drainer.destinations.values():
                if getattr(destination, "probed", None) is not None:
                    destination.probed, destination.batch_path = True, ""
        sent_before = sum(drainer.sent.values())
        record(runs)
        if meter is not None:
            meter()
        started, cpu = time.perf_counter(), time.process_time()
        while drainer.cycle() or any(
            consumer.position < drain.head()
            for drain in drainer.drains
            for consumer in drain.consumers.values()
        ):
            # as the drainer's thread does when nothing moved: wait for a batch in flight to end
            drainer._wake.wait(0.01)
            drainer._wake.clear()
        wall, used = time.perf_counter() - started, time.process_time() - cpu
        return wall, used, sum(drainer.sent.values()) - sent_before
    finally:
        drainer_module.Drainer.ensure_running = held  # type: ignore[method-assign]
        waxell_observe.flush_sync(timeout=10)
        pipeline_module.reset(timeout=5)


def start_server(db: str, log: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    with open(log, "ab") as log_file:  # the server keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "waxell_observe.cli",
                "serve",
                "--port",
                str(port),
                "--db",
                db,
                "--log-level",
                "warning",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-2000:]}")


def start_postgres(root: Path) -> tuple[subprocess.Popen[bytes] | None, str]:
    found = shutil.which("initdb")
    bindir = Path(found).parent if found else None
    if bindir is None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        bindir = Path(candidates[0]) if candidates else None
    if bindir is None:
        return None, ""
    data = root / "pg"
    port = free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)  # fmt: skip
    proc = subprocess.Popen(
        [
            *run_as,
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(root),
            "-h",
            "127.0.0.1",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import psycopg

    for _ in range(300):
        try:
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=1).close()
            break
        except psycopg.OperationalError:
            time.sleep(0.1)
    return proc, f"postgresql://postgres@127.0.0.1:{port}/postgres"


def backlog(args: argparse.Namespace, root: Path, servers: list[subprocess.Popen[bytes]]) -> None:
    """Runs journaled by a process while the server is down, delivered by the next one (``recover``)."""
    port = free_port()
    backlog_env = {
        "WAXELL_API_URL": f"http://127.0.0.1:{port}",
        "WAXELL_JOURNAL_DIR": str(root / "backlog"),
    }
    os.environ.update(backlog_env)
    here = str(Path(__file__).parent)
    code = f"import sys; sys.path.insert(0, {here!r}); import bench_pipeline as b; b.record({args.runs:d})"
    subprocess.run([sys.executable, "-c", code], env=dict(os.environ), check=True, timeout=600)
    proc, url = start_server(str(root / "backlog.db"), root / "server-backlog.log", port=port)
    servers.append(proc)
    from waxell_observe.pipeline.pipeline import recover

    started = time.perf_counter()
    report = recover(timeout=120, root=str(root / "backlog"))
    took = time.perf_counter() - started
    print(f"  {'backlog after restart':<34} {args.runs} runs drained in {took:.2f}s "
          f"({report.sent} records sent)")  # fmt: skip


def live_backlog_case(args: argparse.Namespace, root: Path, servers: list[subprocess.Popen[bytes]]) -> None:
    """Runs journaled while the server is down, delivered by the process that recorded them once the
    server is back (see :func:`live_backlog`)."""
    here = str(Path(__file__).parent)
    port = free_port()
    flag = root / "server-up"
    live_env = {**os.environ, "WAXELL_API_URL": f"http://127.0.0.1:{port}",
                "WAXELL_JOURNAL_DIR": str(root / "live-backlog")}  # fmt: skip
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import bench_pipeline as b; "
        f"b.live_backlog({args.runs:d}, {str(flag)!r})"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=live_env, stdout=subprocess.PIPE, text=True)
    time.sleep(args.down_seconds)
    proc, url = start_server(str(root / "live-backlog.db"), root / "server-live-backlog.log", port=port)
    servers.append(proc)
    flag.touch()
    out, _ = child.communicate(timeout=180)
    line = next((x for x in out.splitlines() if x.startswith("LIVE ")), "")
    if not line:
        raise RuntimeError(f"the live backlog process printed no result: {out[-2000:]}")
    _, took_text, sent_text, pending_text = line.split()
    print(f"  {'live backlog after restart':<34} {args.runs} runs delivered in {float(took_text):.2f}s "
          f"after the server answered ({sent_text} records sent, {pending_text} pending; "
          f"down {args.down_seconds:.0f}s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-per-run", action="store_true", help="skip the per-run protocol (minutes each)")
    parser.add_argument("--backlog-only", action="store_true", help="only the two backlog cases")
    parser.add_argument(
        "--down-seconds", type=float, default=15.0, help="how long the server is down in the live backlog"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    os.environ["WAXELL_DISABLE_PLUGINS"] = "otel"
    os.environ["WAXELL_CONFIG_FILE"] = str(root / "no-config")
    rows: list[tuple[str, float, float, int]] = []
    expected = args.runs * RECORDS_PER_RUN

    def case(name: str, env: dict[str, Any], per_run: bool = False, server: int = 0) -> None:
        env = {"WAXELL_JOURNAL_DIR": str(root / f"journal-{len(rows)}"), "WAXELL_API_URL": "", **env}
        if not env["WAXELL_API_URL"]:
            del env["WAXELL_API_URL"]
            os.environ.pop("WAXELL_API_URL", None)
        uses_postgres = pg_proc is not None and pg_url in {env.get("WAXELL_DB"), server_db.get(server)}
        meters: list[Meter] = []
        wall, cpu, sent = drain_once(
            env, args.runs, per_run=per_run,
            meter=lambda: meters.append(Meter(server, pg_proc.pid if uses_postgres and pg_proc else 0)),
        )  # fmt: skip
        server_cpu, database_cpu = meters[0].used()
        rows.append((name, wall, cpu, sent))
        where = f"SDK CPU {cpu:.2f}s"
        if server:
            where += f", server CPU {server_cpu:.2f}s"
        if uses_postgres:
            where += f", PostgreSQL CPU {database_cpu:.2f}s"
        print(f"  {name:<34} {sent / wall:>10,.0f} records/s  ({sent} of {expected}; {where}; "
              f"load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip

    server_db: dict[int, str] = {}
    pg_proc, pg_url = (None, "") if args.no_postgres else start_postgres(root)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        print(f"{args.runs} runs x {RECORDS_PER_RUN} records, python {sys.version.split()[0]}")
        if not args.backlog_only:
            case("embedded sqlite", {"WAXELL_DB": str(root / "embedded.db")})
        if pg_url and not args.backlog_only:
            case("embedded postgres", {"WAXELL_DB": pg_url})
        for kind, db in (("sqlite", str(root / "server.db")), ("postgres", pg_url)):
            if not db or args.backlog_only:
                continue
            proc, url = start_server(db, root / f"server-{kind}.log")
            servers.append(proc)
            server_db[proc.pid] = db
            case(
                f"remote {kind} (batch endpoint)",
                {"WAXELL_API_URL": url, "WAXELL_DB": str(root / "unused.db")},
                server=proc.pid,
            )
            if not args.no_per_run:
                case(
                    f"remote {kind} (per-run protocol)",
                    {"WAXELL_API_URL": url, "WAXELL_DB": str(root / "unused.db")},
                    per_run=True,
                    server=proc.pid,
                )
        backlog(args, root, servers)
        live_backlog_case(args, root, servers)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(10)
        if pg_proc is not None:
            pg_proc.terminate()
            pg_proc.wait(10)


if __name__ == "__main__":
    main()
