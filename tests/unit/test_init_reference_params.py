"""``init()`` parameters of the reference SDK (issue 14, §5.1): ``agent_name``, ``workflow_name``,
``capture_content=None``, ``exclude``, ``instrument_infra``/``infra_*``, ``interaction_mode``,
``on_policy_block``, and the process run opened when ``WAXELL_AGENT_NAME`` is set."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import waxell_observe
from waxell_observe import init, initialization
from waxell_observe.plugins import hookimpl, reset_plugin_manager
from waxell_observe.policy_block import default_handler


class Lib:
    """Answers for two fake libraries and remembers what was undone."""

    def __init__(self) -> None:
        self.undone: list[frozenset[str] | None] = []

    @hookimpl
    def on_instrument(self, config: Any, libraries: frozenset[str] | None) -> list[str] | None:
        wanted = {"fakelib", "otherlib"} if libraries is None else {"fakelib", "otherlib"} & libraries
        return sorted(wanted)

    @hookimpl
    def on_uninstrument(self, libraries: frozenset[str] | None) -> list[str] | None:
        self.undone.append(libraries)
        return sorted(libraries or ())


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lib]:
    waxell_observe.flush_sync(timeout=30)
    monkeypatch.setenv("WAXELL_DISABLE_PLUGINS", "all")
    monkeypatch.delenv("WAXELL_AGENT_NAME", raising=False)
    monkeypatch.delenv("WAXELL_EXCLUDE", raising=False)
    monkeypatch.delenv("WAXELL_INTERACTION_MODE", raising=False)
    reset_plugin_manager()
    initialization._reset_for_tests()
    lib = Lib()
    from waxell_observe.plugins import plugin_manager

    plugin_manager().register(lib, name="fake-libs")
    yield lib
    initialization._reset_for_tests()
    monkeypatch.delenv("WAXELL_DISABLE_PLUGINS")
    reset_plugin_manager()


def test_the_signature_is_the_reference_one() -> None:
    params = inspect.signature(init).parameters
    assert list(params)[:17] == [
        "api_key", "api_url", "agent_name", "workflow_name", "capture_content", "instrument", "exclude",
        "instrument_infra", "infra_libraries", "infra_exclude", "resource_attributes", "debug",
        "prompt_guard", "prompt_guard_server", "prompt_guard_action", "interaction_mode", "on_policy_block",
    ]  # fmt: skip
    assert params["capture_content"].default is None
    assert params["instrument_infra"].default is True
    assert params["prompt_guard_action"].default == "block"


def test_agent_and_workflow_name_are_the_process_identity(
    isolated: Lib, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_WORKFLOW", "env-wf")
    assert initialization.process_identity() == ("", "env-wf")
    init(agent_name="billing-bot", instrument=[])
    assert initialization.process_identity() == ("billing-bot", "env-wf")
    waxell_observe.shutdown()  # forgets init()
    monkeypatch.setenv("WAXELL_AGENT_NAME", "from-env")
    assert initialization.process_identity() == ("from-env", "env-wf")


def test_exclude_and_waxell_exclude(isolated: Lib, monkeypatch: pytest.MonkeyPatch) -> None:
    init(exclude=["OtherLib"])
    assert initialization.instrumented_libraries() == ("fakelib",)
    assert isolated.undone == [frozenset({"otherlib"})]
    initialization._reset_for_tests()
    monkeypatch.setenv("WAXELL_EXCLUDE", "fakelib, otherlib")
    init()
    assert initialization.instrumented_libraries() == ()
    initialization._reset_for_tests()
    init(instrument=["fakelib", "otherlib"], exclude=["fakelib"])  # exclude wins over instrument
    assert initialization.instrumented_libraries() == ("otherlib",)


def test_capture_content_none_falls_through_false_is_explicit(
    isolated: Lib, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_CAPTURE_CONTENT", "true")
    assert init(instrument=[]).capture_content is True
    initialization._reset_for_tests()
    assert init(capture_content=False, instrument=[]).capture_content is False


def test_interaction_mode_is_written_on_every_call(isolated: Lib) -> None:
    init(interaction_mode="Interactive", instrument=[])
    assert os.environ["WAXELL_INTERACTION_MODE"] == "interactive"
    init(interaction_mode="sometimes")  # a repeated call still writes it; unknown → auto
    assert os.environ["WAXELL_INTERACTION_MODE"] == "auto"


def test_on_policy_block_is_the_default_handler_until_shutdown(isolated: Lib) -> None:
    def handler(error: Exception) -> bool:
        return True

    init(on_policy_block=handler, instrument=[])
    assert default_handler() is handler
    waxell_observe.shutdown()
    assert default_handler() is None
    assert not initialization.is_initialized()


def test_bad_arguments_raise_and_leave_the_sdk_uninitialised(isolated: Lib) -> None:
    for kwargs in (
        {"agent_name": 3},
        {"on_policy_block": "yes"},
        {"exclude": 5},
        {"infra_libraries": [1]},
    ):
        with pytest.raises(ValueError):
            init(**kwargs)
        assert not initialization.is_initialized()
    config = init(
        instrument_infra=False, infra_libraries=["redis"], infra_exclude=["Kafka", "celery"], instrument=[]
    )
    assert initialization.is_initialized()
    assert (config.instrument_infra, config.infra_exclude) == (False, "celery,kafka")


def test_the_reference_config_members_come_from_init_and_env(
    isolated: Lib, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_INSTRUMENT_INFRA", "no")
    monkeypatch.setenv("WAXELL_INFRA_EXCLUDE", "redis")
    monkeypatch.setenv("WAXELL_OTEL_ENDPOINT", "http://collector:4318")
    config = init(interaction_mode="Autonomous", instrument=[])
    assert (config.instrument_infra, config.infra_exclude, config.otel_endpoint, config.interaction_mode) == (
        False,
        "redis",
        "http://collector:4318",
        "autonomous",
    )
    assert config.otlp_endpoint == ""  # WAXELL_OTEL_ENDPOINT is kept, not used for export (as the reference)


_AMBIENT_PROGRAM = """
import json, sys
import waxell_observe as waxell
waxell.init(instrument=[])
ctx = waxell.get_context()
waxell.step("inside-the-process-run")
print(json.dumps({"run_id": ctx.run_id, "agent": ctx.agent_name, "workflow": ctx.workflow_name}))
waxell.shutdown(timeout=60)  # completes the process run (interpreter exit would too, within its 2 s budget)
"""


def test_waxell_agent_name_opens_a_run_for_the_whole_process(tmp_path: Path) -> None:
    db = tmp_path / "ambient.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(
        WAXELL_DB=str(db),
        WAXELL_JOURNAL_DIR=str(tmp_path / "journal"),
        WAXELL_CONFIG_FILE=str(tmp_path / "none"),
        WAXELL_AGENT_NAME="nightly-job",
        WAXELL_DISABLE_PLUGINS="all",
    )
    done = subprocess.run(
        [sys.executable, "-c", _AMBIENT_PROGRAM], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["agent"], out["workflow"]) == ("nightly-job", "agent")
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import get_run

    with get_store(f"sqlite:///{db}").read() as conn:
        run = get_run(conn, out["run_id"])
    assert run is not None
    assert (run["agent_name"], run["workflow_name"], run["status"]) == ("nightly-job", "agent", "success")
    assert [s["name"] for s in run["steps"]] == ["inside-the-process-run"]
