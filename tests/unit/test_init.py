"""``init()``: configuration resolution, idempotence, plugin hooks; ``generate_session_id()``."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import waxell
import waxell_observe
from waxell_observe import generate_session_id, init, initialization, observe
from waxell_observe.config import get_config
from waxell_observe.plugins import hookimpl, reset_plugin_manager

ReadRuns = Callable[..., list[dict[str, Any]]]


class HookRecorder:
    def __init__(self) -> None:
        self.configured: list[Any] = []
        self.instrument_calls: list[frozenset[str] | None] = []

    @hookimpl
    def on_configure(self, config: Any) -> None:
        self.configured.append(config)

    @hookimpl
    def on_instrument(self, config: Any, libraries: frozenset[str] | None) -> list[str] | None:
        self.instrument_calls.append(libraries)
        if libraries is None or "fakelib" in libraries:
            return ["fakelib"]
        return None


@pytest.fixture
def isolated_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin manager without entry points, so init() instruments no real library here."""
    waxell_observe.flush_sync(timeout=30)
    monkeypatch.setenv("WAXELL_DISABLE_PLUGINS", "all")
    reset_plugin_manager()
    initialization._reset_for_tests()
    yield
    initialization._reset_for_tests()
    monkeypatch.delenv("WAXELL_DISABLE_PLUGINS")
    reset_plugin_manager()


@pytest.fixture
def restore_logger() -> Iterator[None]:
    logger = logging.getLogger("waxell_observe")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_generate_session_id_format() -> None:
    ids = {generate_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    for session_id in ids:
        assert re.fullmatch(r"sess_[0-9a-f]{24}", session_id)


@pytest.mark.usefixtures("isolated_plugins")
def test_only_the_first_call_acts() -> None:
    assert not initialization.is_initialized()
    first = init(api_url="http://127.0.0.1:9", api_key="wax_sk_first", instrument=["none"])
    assert initialization.is_initialized()
    assert (first.api_url, first.api_key, first.mode) == ("http://127.0.0.1:9", "wax_sk_first", "remote")
    assert get_config() is first
    second = init(api_url="http://127.0.0.1:10", api_key="wax_sk_second")
    assert second is first
    assert get_config().api_key == "wax_sk_first"


@pytest.mark.usefixtures("isolated_plugins", "restore_logger")
def test_arguments_then_environment_then_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "config"
    config_file.write_text(
        "[default]\n"
        "api_url = http://file.example\n"
        "api_key = file-key\n"
        "debug = true\n"
        "capture_content = true\n"
        "[other]\n"
        "api_key = other-profile-key\n"
    )
    monkeypatch.setenv("WAXELL_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("WAXELL_API_KEY", "env-key")
    monkeypatch.setenv("WAXELL_API_URL", "http://env.example")

    config = init(api_url="http://arg.example", instrument=[])
    assert config.api_url == "http://arg.example"  # argument beats environment
    assert config.api_key == "env-key"  # environment beats file
    assert config.debug is True  # from the file
    assert config.capture_content is True  # from the file
    assert logging.getLogger("waxell_observe").level == logging.DEBUG


@pytest.mark.usefixtures("isolated_plugins")
def test_environment_fills_what_arguments_leave_at_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAXELL_CAPTURE_CONTENT", "true")
    monkeypatch.setenv("WAXELL_PROMPT_GUARD", "1")
    monkeypatch.setenv("WAXELL_PROMPT_GUARD_ACTION", "warn")
    config = init(instrument=[])
    assert (config.capture_content, config.prompt_guard, config.prompt_guard_action) == (True, True, "warn")
    assert config.mode == "embedded"


@pytest.mark.usefixtures("isolated_plugins")
def test_every_documented_argument_reaches_the_configuration() -> None:
    config = init(
        api_key="k",
        api_url="https://control.example",
        capture_content=True,
        instrument=["OpenAI", " anthropic "],
        debug=False,
        prompt_guard=True,
        prompt_guard_action="redact",
        prompt_guard_server=True,
        resource_attributes={"service.name": "support-bot"},
        preview_chars=80,
        my_plugin_option={"level": 3},
    )
    assert config.api_key == "k"
    assert config.api_url == "https://control.example"
    assert config.capture_content is True
    assert config.instrument == ("anthropic", "openai")
    assert config.debug is False
    assert (config.prompt_guard, config.prompt_guard_action, config.prompt_guard_server) == (
        True,
        "redact",
        True,
    )
    assert dict(config.resource_attributes) == {"service.name": "support-bot"}
    assert config.preview_chars == 80
    assert dict(config.extra) == {"my_plugin_option": {"level": 3}}


@pytest.mark.usefixtures("isolated_plugins")
def test_plugins_are_configured_and_asked_to_instrument_named_libraries(register_plugin: Any) -> None:
    recorder = register_plugin(HookRecorder())
    config = init(instrument=["fakelib", "OtherLib"])
    assert recorder.configured == [config]
    assert recorder.instrument_calls == [frozenset({"fakelib", "otherlib"})]
    assert initialization.instrumented_libraries() == ("fakelib",)


@pytest.mark.usefixtures("isolated_plugins")
def test_without_instrument_every_installed_library_is_asked_for(register_plugin: Any) -> None:
    recorder = register_plugin(HookRecorder())
    init()
    assert recorder.instrument_calls == [None]
    assert initialization.instrumented_libraries() == ("fakelib",)


@pytest.mark.usefixtures("isolated_plugins")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instrument": 5}, "instrument must be a list of library names or None, got int"),
        ({"instrument": ["openai", ""]}, "library names must be non-empty strings"),
        ({"prompt_guard_action": "explode"}, "prompt_guard_action must be one of block, warn, redact"),
        ({"api_url": "ftp://example"}, "api_url must start with http:// or https://"),
        ({"resource_attributes": ["a"]}, "resource_attributes must be a dict or None"),
    ],
)
def test_bad_arguments_are_clear_value_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        init(**kwargs)
    assert not initialization.is_initialized()


def test_import_waxell_init_is_the_same_function() -> None:
    assert waxell.init is init
    assert waxell.generate_session_id is generate_session_id


def test_runs_after_init_use_its_configuration(tmp_path: Path, read_runs: ReadRuns) -> None:
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import list_runs

    initialization._reset_for_tests()
    target = tmp_path / "chosen.db"
    try:
        init(db=str(target), instrument=[])

        @observe
        def agent() -> str:
            return "ok"

        agent(session_id=generate_session_id())
        waxell_observe.flush_sync(timeout=30)
        with get_store(f"sqlite:///{target}").read() as conn:
            [run] = list_runs(conn)
        assert run["agent_name"] == "agent"
        assert re.fullmatch(r"sess_[0-9a-f]{24}", run["session_id"])
        assert read_runs() == []  # nothing went to the default (WAXELL_DB) store
    finally:
        initialization._reset_for_tests()
