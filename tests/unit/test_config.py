"""Configuration: arguments, then environment, then ~/.waxell/config; bad values named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from waxell_observe import ObserveConfig, WaxellObserveClient
from waxell_observe.config import get_config, resolve_config
from waxell_observe.errors import ConfigurationError


def test_defaults(tmp_path: Path) -> None:
    config = resolve_config()
    assert (config.api_url, config.api_key, config.mode) == ("", "", "embedded")
    assert (config.capture_content, config.debug, config.enabled) == (False, False, True)


def test_arguments_beat_environment_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "config"
    config_file.write_text("[default]\napi_url = https://file.example\napi_key = wax_sk_file\ndebug = true\n")
    monkeypatch.setenv("WAXELL_CONFIG_FILE", str(config_file))
    config = resolve_config()
    assert (config.api_url, config.api_key, config.debug, config.mode) == (
        "https://file.example",
        "wax_sk_file",
        True,
        "remote",
    )
    monkeypatch.setenv("WAXELL_API_URL", "https://env.example")
    assert resolve_config().api_url == "https://env.example"
    assert resolve_config(api_url="http://arg.example").api_url == "http://arg.example"
    assert resolve_config(api_url="http://arg.example").api_key == "wax_sk_file"


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("0", False), ("No", False), ("TRUE", True)])
def test_waxell_observe_switch(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("WAXELL_OBSERVE", raw)
    assert resolve_config().enabled is expected


def test_bad_environment_values_are_ignored_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WAXELL_DEBUG", "perhaps")
    assert resolve_config().debug is False
    assert "ignoring debug from WAXELL_DEBUG" in caplog.text


def test_bad_arguments_raise_with_the_name() -> None:
    with pytest.raises(ConfigurationError, match="api_url must start with http"):
        ObserveConfig(api_url="ftp://x")
    with pytest.raises(ConfigurationError, match="prompt_guard_action must be one of"):
        resolve_config(prompt_guard_action="shout")
    with pytest.raises(ConfigurationError, match="capture_content: expected a boolean"):
        resolve_config(capture_content="maybe")
    assert issubclass(ConfigurationError, ValueError)


def test_unknown_options_are_kept_for_plugins() -> None:
    assert resolve_config(jsonl_path="/tmp/x.jsonl").extra == {"jsonl_path": "/tmp/x.jsonl"}


def test_client_configure_sets_the_global_configuration() -> None:
    WaxellObserveClient.configure(api_url="https://acme.waxell.dev", api_key="wax_sk_123")
    config = get_config()
    assert (config.api_url, config.api_key, config.mode) == (
        "https://acme.waxell.dev",
        "wax_sk_123",
        "remote",
    )


def test_postgres_urls() -> None:
    assert resolve_config(db="postgresql://u@h/db").db_url == "postgresql+psycopg://u@h/db"
    assert resolve_config(db="postgres://u@h/db").db_url == "postgresql+psycopg://u@h/db"
    assert resolve_config(db="/tmp/x.db").db_url == "sqlite:////tmp/x.db"


def test_import_is_light() -> None:
    """``import waxell_observe`` pulls in no framework, server, SQL or HTTP library."""
    code = (
        "import sys, waxell_observe, waxell\n"
        "heavy = [m for m in ('sqlalchemy', 'httpx', 'fastapi', 'starlette', 'uvicorn', 'pydantic', 'yaml',"
        " 'langchain_core', 'llama_index', 'openai', 'anthropic', "
        "'opentelemetry', 'psycopg') if m in sys.modules]\nprint(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_store_locations_become_sqlalchemy_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from waxell_observe.config import db_url_from

    monkeypatch.chdir(tmp_path)
    assert db_url_from(":memory:") == "sqlite:///:memory:"  # SQLite's in-memory database, no file
    assert db_url_from("runs.db") == f"sqlite:///{tmp_path / 'runs.db'}"
    assert db_url_from("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert db_url_from("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert db_url_from("sqlite:////x/y.db") == "sqlite:////x/y.db"


@pytest.mark.skipif(sys.platform != "linux", reason="the string paths are POSIX's; elsewhere pathlib is used")
def test_store_and_journal_paths_are_the_ones_pathlib_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``init()`` does not import pathlib: the configuration's paths are made from strings, as
    ``Path(...).expanduser().absolute()`` would make them (``..`` kept, ``.`` and ``//`` dropped)."""
    from waxell_observe.config import db_url_from

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home//me/"))
    for location in (
        "runs.db",
        "./a//b/../runs.db",
        "~/runs.db",
        "~",
        "/x/./y//z.db",
        "//net/r.db",
        "a/",
        ".",
    ):
        assert db_url_from(location) == f"sqlite:///{Path(location).expanduser().absolute()}", location
        config = ObserveConfig(journal_dir=location)
        assert config.journal_root == str(Path(location).expanduser().absolute()), location
    assert ObserveConfig().db_url == f"sqlite:///{tmp_path}/home/me/.waxell/observe.db"
    for data_home, root in (("", f"{tmp_path}/home/me/.local/share"), ("/d//x/", "/d/x"), ("rel/.", "rel")):
        monkeypatch.setenv("XDG_DATA_HOME", data_home)
        assert ObserveConfig().journal_root == f"{root}/waxell-observe/journal"
    with pytest.raises(RuntimeError, match="Could not determine home directory"):
        db_url_from("~no-such-user-here/runs.db")  # what Path.expanduser() raises
