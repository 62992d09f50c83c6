"""Virtual environments of their own, for integrations whose framework conflicts with the workspace.

Some frameworks cannot be installed beside the workspace's pins (CrewAI needs ``mcp<2``, the MCP
integration ``mcp>=2``); their integrations are projects of their own (excluded from the uv
workspace) and are tested here instead: a venv per framework, built with the same uv the workspace
uses, from a lock file kept beside the tests (``tests/integrations/<name>/requirements.txt``,
compiled by ``uv pip compile --universal`` from ``requirements.in``). The lock names the SDK core,
the integration and any provider integration by path (``-e ../../..``): they are installed editable
from this checkout, never from an index, so a change to their code needs no rebuild.

The venv lives under ``$WAXELL_ISOLATED_ENVS`` (default ``~/.cache/waxell-observe-tools/isolated-envs``)
in a directory named by a hash of what it is built from: the lock, the ``pyproject.toml`` of every
package it installs from this checkout, the Python interpreter and the uv version. A re-run finds
it built and costs nothing; a changed lock or pyproject builds a new one (the old one is removed).
Builds are serialized by a file lock, so pytest-xdist workers wait for one build instead of racing.

A test runs a program in the venv as a real subprocess (:meth:`IsolatedEnv.run`) with an embedded
store of its own (``WAXELL_DB``: a SQLite file in a tmp dir), then reads the runs back through the
store (:func:`stored_run` / :func:`stored_runs`, what the ``read_run`` fixture does in-process).
A program is slow to start (importing CrewAI alone takes seconds), so a test module runs one
program for several scenarios and its tests assert on the runs it left.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.llm_stub import StubLLMServer

__all__ = [
    "ROOT",
    "IsolatedEnv",
    "ProgramResult",
    "Reply",
    "Scenarios",
    "isolated_env",
    "run_scenarios",
    "stored_run",
    "stored_runs",
    "uv_executable",
]

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the SDK core the venvs install (editable)."""

_HERE = Path(__file__).resolve().parent
_DONE = "waxell-isolated-env.json"
"""Written into a venv when its build finished: what it was built from and how long it took."""

_ENV_DROPPED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "UV_PROJECT_ENVIRONMENT")
"""Variables of the test process that must not reach a program run in another venv."""

QUIET_FRAMEWORKS = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "HF_HUB_OFFLINE": "1",
}
"""Telemetry and network look-ups off in every program (the tests run offline); a test that
needs the OpenTelemetry SDK on (Strands' spans) sets ``OTEL_SDK_DISABLED`` itself."""


def uv_executable() -> str:
    """The uv the workspace is synced with: ``$UV`` (set by ``uv run``), ``uv`` on the PATH, else
    the one scripts/_bootstrap.sh installs."""
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        return found
    tools = Path(os.environ.get("WAXELL_TOOLS_DIR", Path.home() / ".cache" / "waxell-observe-tools"))
    candidate = tools / "bin" / "uv"
    if candidate.is_file():
        return str(candidate)
    raise RuntimeError(
        "no uv found (scripts/_bootstrap.sh installs it); the isolated venvs are built with it"
    )


def _cache_root() -> Path:
    configured = os.environ.get("WAXELL_ISOLATED_ENVS")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "waxell-observe-tools" / "isolated-envs"


def _local_paths(lock: Path) -> list[Path]:
    """The packages the lock installs from this checkout (its ``-e <path>`` lines)."""
    found = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("-e "):
            found.append((lock.parent / line[3:].strip()).resolve())
    return found


@dataclass(frozen=True)
class ProgramResult:
    """What a program run in an isolated venv printed; ``last_json`` is its last stdout line, parsed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def last_json(self) -> Any:
        lines = self.stdout.strip().splitlines()
        assert lines, f"the program printed nothing\nstderr:\n{self.stderr}"
        return json.loads(lines[-1])


class IsolatedEnv:
    """The venv of one framework, built from ``tests/integrations/<name>/requirements.txt``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.directory = _HERE / name
        self.lock = self.directory / "requirements.txt"
        if not self.lock.is_file():
            raise FileNotFoundError(f"{self.lock} (compile it from requirements.in, see its header)")
        self.key = self._key()
        self.path = _cache_root() / f"{name}-{self.key}"
        self.build_seconds: float | None = None
        """How long :meth:`ensure` spent building (None: the venv was there already)."""

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def _key(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.lock.read_bytes())
        for path in _local_paths(self.lock):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update((path / "pyproject.toml").read_bytes())
        version = subprocess.run(
            [uv_executable(), "--version"], capture_output=True, text=True, check=True
        ).stdout
        digest.update(version.encode())
        digest.update(f"{sys.implementation.name} {sys.version} {sys.base_prefix}".encode())
        return digest.hexdigest()[:16]

    def ensure(self) -> IsolatedEnv:
        """Build the venv unless it is built already (waiting for a build another process runs)."""
        root = _cache_root()
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f"{self.name}.lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                if not (self.path / _DONE).is_file():
                    self._build(root)
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)
        return self

    def _build(self, root: Path) -> None:
        for stale in root.glob(f"{self.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # an older lock's venv, or a build that died
        uv = uv_executable()
        env = {k: v for k, v in os.environ.items() if k not in _ENV_DROPPED}
        started = time.monotonic()
        # the interpreter running the tests (its base Python: uv does not nest venvs)
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(self.path)], env=env, cwd=ROOT)
        # relative paths in the lock are relative to its directory
        _run(
            [uv, "pip", "install", "--quiet", "--python", str(self.python), "-r", str(self.lock)],
            env=env,
            cwd=self.directory,
        )
        self.build_seconds = time.monotonic() - started
        self._check_core_is_this_checkout()
        (self.path / _DONE).write_text(
            json.dumps({"lock": str(self.lock), "key": self.key, "build_seconds": self.build_seconds}),
            encoding="utf-8",
        )

    def _check_core_is_this_checkout(self) -> None:
        """``waxell-observe`` in the venv must be this checkout (editable), never a published one."""
        done = subprocess.run(
            [
                str(self.python),
                "-c",
                "import json, importlib.metadata as m; "
                "print(m.distribution('waxell-observe').read_text('direct_url.json'))",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        origin = json.loads(done.stdout)
        expected = ROOT.as_uri()
        if origin.get("url") != expected or not origin.get("dir_info", {}).get("editable"):
            shutil.rmtree(self.path, ignore_errors=True)
            raise RuntimeError(
                f"waxell-observe in {self.path} comes from {origin}, not {expected} (editable)"
            )

    def run(
        self,
        program: Path,
        *args: str,
        db: Path,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> ProgramResult:
        """Run ``program`` with the venv's Python (``-I``: neither the program's directory nor user
        site-packages on its path) and fail the test with its output when it exits non-zero.

        The program records into the embedded store ``db`` (a SQLite file; its configuration file
        and journal beside it). Its environment is the test process's without the workspace venv's
        variables and without any ``WAXELL_*`` / ``OTEL_*`` setting, plus :data:`QUIET_FRAMEWORKS`,
        plus ``env``."""
        inherited = {
            k: v
            for k, v in os.environ.items()
            if k not in _ENV_DROPPED and not k.startswith(("WAXELL_", "OTEL_"))
        }
        merged = {
            **inherited,
            **QUIET_FRAMEWORKS,
            "WAXELL_DB": str(db),
            "WAXELL_CONFIG_FILE": str(db.parent / "no-such-config"),
            "WAXELL_JOURNAL_DIR": str(db.parent / "journal"),
            **(env or {}),
        }
        done = subprocess.run(
            [str(self.python), "-I", str(program), *args],
            capture_output=True,
            text=True,
            env=merged,
            timeout=timeout,
            check=False,
            cwd=db.parent,
        )
        assert done.returncode == 0, (
            f"{program.name} exited with {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        return ProgramResult(done.returncode, done.stdout, done.stderr)


def stored_run(db: Path, run_id: str) -> dict[str, Any]:
    """One run a program stored in ``db``, with all its records (``show --json`` shape)."""
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import get_run

    with get_store(f"sqlite:///{db}").read() as conn:
        run = get_run(conn, run_id)
    assert run is not None, f"run {run_id} is not in {db}"
    return run


def stored_runs(db: Path, **filters: Any) -> list[dict[str, Any]]:
    """The runs a program stored in ``db`` (newest first, ``runs --json`` shape)."""
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import RunFilter, list_runs

    with get_store(f"sqlite:///{db}").read() as conn:
        return list_runs(conn, RunFilter(**filters), limit=10_000)


def by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The spans of kind ``kind`` of a stored run (:func:`stored_run`), in its order."""
    return [s for s in run["spans"] if s["kind"] == kind]


def calls(run: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """A stored run's LLM calls as ``(model, tokens_in, tokens_out, parent_span_id)``."""
    return [(c["model"], c["tokens_in"], c["tokens_out"], c["parent_span_id"]) for c in run["llm_calls"]]


NO_DELETES = (
    "policies:\n  - {name: no-deletes, category: tool-allowlist, rules: {blocked_tools: [delete_records]}}\n"
)
"""Policies (YAML, for :func:`run_scenarios`) refusing the tool ``delete_records`` at ``tool.before``."""
NO_O1 = "  - {name: no-o1, category: llm, rules: {blocked_models: [o1-preview, openai/o1-preview]}}\n"
"""A policy entry (to append to :data:`NO_DELETES`) refusing the model ``o1-preview`` at ``llm.before``."""


def assert_model_refused_before_the_request(scenarios: Scenarios, name: str) -> None:
    """The scenario ``name`` ran an agent on ``o1-preview`` under :data:`NO_O1`: the framework's own
    ``llm.before`` refused it, so the stub never saw the model, no LLM call was recorded, the run holds
    one policy span at ``llm.before`` and ended blocked, and the program saw ``PolicyViolationError``."""
    assert scenarios.results[name]["error"] == "PolicyViolationError"
    run = scenarios.run(name)
    assert [r.body["model"] for r in scenarios.stub.requests if "o1" in r.body["model"]] == []
    assert run["llm_calls"] == []
    policy = [(s["name"], s["attributes"]["metadata"]["surface"]) for s in by_kind(run, "policy")]
    assert policy == [("no-o1", "llm.before")]
    assert run["status"] == "blocked"


def _run(argv: list[str], *, env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


_built: dict[str, IsolatedEnv] = {}


def isolated_env(name: str) -> IsolatedEnv:
    """The built venv of ``name`` (built once per process, reused across processes and runs)."""
    if name not in _built:
        _built[name] = IsolatedEnv(name).ensure()
    return _built[name]


Reply = tuple[dict[str, Any], int] | list[bytes]
"""What the stub answers one request with: a JSON body and its status, or the events of a stream."""


class Scenarios:
    """What one run of a scenario program left: its printed results, its store, the requests the
    stub LLM server saw."""

    def __init__(self, results: dict[str, Any], db: Path, stub: StubLLMServer) -> None:
        self.results = results
        self.db = db
        self.stub = stub

    def run(self, scenario: str) -> dict[str, Any]:
        """The stored run of ``scenario`` (by the ``run_id`` the program printed for it)."""
        return stored_run(self.db, self.results[scenario]["run_id"])


def run_scenarios(
    env: str,
    program: Path,
    tmp: Path,
    scenarios: dict[str, list[Reply]],
    *,
    instrument: str,
    policies: str = "",
    extra_env: dict[str, str] | None = None,
) -> Iterator[Scenarios]:
    """Run ``program`` in the isolated venv ``env`` over ``scenarios`` (in order), each scenario's
    replies queued on a stub LLM server (``STUB_BASE_URL``), with ``init(instrument=...)``'s list in
    ``WAXELL_INSTRUMENT`` and ``policies`` (YAML) in its store beforehand; yield what it left (a
    generator, for a module-scoped fixture to ``yield from``)."""
    from integrations.llm_stub import StubLLMServer
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    db = tmp / "observe.db"
    if policies:
        add_policies(get_store(f"sqlite:///{db}"), load_policies(policies))
    with StubLLMServer() as stub:
        for replies in scenarios.values():
            for reply in replies:
                if isinstance(reply, list):
                    stub.reply_sse(reply)
                else:
                    stub.reply_json(reply[0], status=reply[1])
        done = isolated_env(env).run(
            program,
            *scenarios,
            db=db,
            env={"STUB_BASE_URL": stub.openai_base_url, "WAXELL_INSTRUMENT": instrument, **(extra_env or {})},
        )
        yield Scenarios(done.last_json, db, stub)
