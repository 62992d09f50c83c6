"""When export is on, where it goes, and the ids and trace context it uses."""

from __future__ import annotations

from typing import Any

import pytest
from waxell_observe_otel.ids import span_id_for, trace_id_for, traceparent
from waxell_observe_otel.propagation import ParentContext, parse_traceparent
from waxell_observe_otel.settings import DEFAULT_EXPORT_TIMEOUT, settings_from_config, traces_url

from waxell_observe.config import resolve_config


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://tempo.example/otlp", "https://tempo.example/otlp/v1/traces"),
        ("http://127.0.0.1:8001/v1/traces", "http://127.0.0.1:8001/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


def test_every_way_of_naming_an_endpoint_turns_export_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from_config(resolve_config()) is None
    from_init = settings_from_config(resolve_config(otlp_endpoint="http://a:4318"))
    assert from_init is not None and from_init.traces_url == "http://a:4318/v1/traces"
    monkeypatch.setenv("WAXELL_OTLP_ENDPOINT", "http://b:4318")
    from_waxell_env = settings_from_config(resolve_config())
    assert from_waxell_env is not None and from_waxell_env.traces_url == "http://b:4318/v1/traces"
    monkeypatch.delenv("WAXELL_OTLP_ENDPOINT")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")
    from_otel_env = settings_from_config(resolve_config())
    assert from_otel_env is not None and from_otel_env.traces_url == "http://c:4318/v1/traces"
    # The per-signal OTel variable is used as it is, and wins over the generic one...
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://d:4318/custom/traces")
    signal = settings_from_config(resolve_config())
    assert signal is not None and signal.traces_url == "http://d:4318/custom/traces"
    # ... but an endpoint given to waxell explicitly wins over both.
    explicit = settings_from_config(resolve_config(otlp_endpoint="http://e:4318"))
    assert explicit is not None and explicit.traces_url == "http://e:4318/v1/traces"


def test_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    default = settings_from_config(resolve_config(otlp_endpoint="http://a:4318"))
    assert default is not None and default.export_timeout == DEFAULT_EXPORT_TIMEOUT
    chosen = settings_from_config(resolve_config(otlp_endpoint="http://a:4318", otel_export_timeout="1.5"))
    assert chosen is not None and chosen.export_timeout == 1.5
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "7")
    from_env = settings_from_config(resolve_config(otlp_endpoint="http://a:4318"))
    assert from_env is not None and from_env.export_timeout is None  # the OTel exporter reads it


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"otlp_endpoint": "collector:4318"},
            "otlp_endpoint must be an http:// or https:// URL, got 'collector:4318'",
        ),
        (
            {"otlp_endpoint": "http://a", "otel_export_timeout": "soon"},
            "otel_export_timeout must be a number",
        ),
        ({"otlp_endpoint": "http://a", "otel_export_timeout": 0}, "otel_export_timeout must be > 0"),
        (
            {"otel_span_exporter": object()},
            "otel_span_exporter must be an OpenTelemetry SpanExporter, got object",
        ),
        ({"otlp_endpoint": "http://a", "otel_set_global": "perhaps"}, "otel_set_global: expected a boolean"),
    ],
)
def test_bad_settings_turn_export_off_with_a_clear_log(
    options: dict[str, Any], message: str, caplog: Any
) -> None:
    assert settings_from_config(resolve_config(**options)) is None
    assert message in caplog.text


def test_a_bad_endpoint_never_breaks_the_agent(caplog: Any) -> None:
    from waxell_observe import WaxellContext, WaxellObserveClient

    WaxellObserveClient.configure(otlp_endpoint="localhost:4318")
    with WaxellContext(agent_name="fine", enforce_policy=False) as ctx:
        ctx.record_step("still recorded")
    assert ctx.run.status == "success"
    assert "otel" not in ctx.run.plugin_state
    assert "OpenTelemetry export is off: otlp_endpoint must be an http:// or https:// URL" in caplog.text


def test_ids_are_derived_from_waxell_ids() -> None:
    assert trace_id_for("4bf92f3577b34da6a3ce929d0e0e4736") == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert span_id_for("4bf92f3577b34da6a3ce929d0e0e4736") == 0xA3CE929D0E0E4736
    assert trace_id_for("4BF92F35-77B3-4DA6-A3CE-929D0E0E4736") == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    # Caller-chosen run ids are hashed: stable, non-zero, the right size.
    assert trace_id_for("my-run-1") == trace_id_for("my-run-1") != trace_id_for("my-run-2")
    assert 0 < trace_id_for("my-run-1") < 2**128 and 0 < span_id_for("my-run-1") < 2**64
    assert trace_id_for("0" * 32) != 0 and span_id_for("0" * 32) != 0
    assert traceparent(0xABC, 0xDEF) == "00-00000000000000000000000000000abc-0000000000000def-01"
    assert traceparent(0xABC, 0xDEF, sampled=False).endswith("-00")


@pytest.mark.parametrize(
    ("value", "parent"),
    [
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ParentContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, True),
        ),
        (
            " 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00 ",
            ParentContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False, True),
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",
            ParentContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, True),
        ),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", None),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", None),
        ("garbage", None),
    ],
)
def test_parse_traceparent(value: str, parent: ParentContext | None) -> None:
    assert parse_traceparent(value) == parent
