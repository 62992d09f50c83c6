"""``diagnose()`` (issue 14, §1.1): a status report that sends nothing and never raises."""

from __future__ import annotations

from pathlib import Path

import pytest

import waxell_observe
from waxell_observe import diagnostics


def test_the_report_keys_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from waxell_observe import initialization

    initialization.forget()  # as before any init(): an earlier test of this process may have called it
    report = waxell_observe.diagnose()
    assert list(report) == [
        "sdk_version",
        "initialized",
        "active_instrumentors",
        "detected_libraries",
        "config",
        "tracing",
        "waiting_instrumentors",
        "integrations",
    ]
    assert report["sdk_version"] == waxell_observe.__version__
    assert report["initialized"] is False
    assert report["active_instrumentors"] == []
    assert set(report["detected_libraries"]) == set(diagnostics.DETECTABLE_LIBRARIES)
    assert report["detected_libraries"]["openai"] is True  # a test dependency
    assert report["detected_libraries"]["crewai"] is False
    assert report["config"] == {"api_url": "(not set)", "api_key_set": False, "observe_enabled": True}
    assert set(report["tracing"]) == {"otel_available", "tracing_enabled"}
    assert report["waiting_instrumentors"] == []  # init() has not run
    assert report["integrations"]["openai"] == {
        "state": "not_selected",
        "triggers": ["openai"],
        "package": "waxell_observe_openai",
    }


def test_config_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config_file = tmp_path / "config"
    config_file.write_text("[default]\napi_url = https://cp.example\napi_key = wax_sk_x\n")
    monkeypatch.setenv("WAXELL_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("WAXELL_OBSERVE", "no")
    assert waxell_observe.diagnose()["config"] == {
        "api_url": "https://cp.example",
        "api_key_set": False,  # only the environment's key counts
        "observe_enabled": False,
    }
    monkeypatch.setenv("WAXELL_API_URL", "https://env.example")
    monkeypatch.setenv("WAXELL_API_KEY", "wax_sk_y")
    assert waxell_observe.diagnose()["config"]["api_url"] == "https://env.example"
    assert waxell_observe.diagnose()["config"]["api_key_set"] is True


def test_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(diagnostics, "_report", broken)
    assert waxell_observe.diagnose() == {"error": "RuntimeError: boom"}
