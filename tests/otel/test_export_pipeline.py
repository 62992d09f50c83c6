"""OTLP export through the journal: nothing dropped in a burst or while the receiver is down,
the API key sent to our own receiver, runs spread over several batches, real processes
(exit, adoption of a child that left through ``os._exit``), and the protobuf bodies."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.initialization import _reset_for_tests
from waxell_observe.store import get_store

from .conftest import KeyedServer, StubReceiver

HERE = Path(__file__).parent


def program(receiver_url: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run ``burst_program.py`` in a real process exporting to ``receiver_url`` (this test's
    journal directory, its own store); returns the JSON it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAXELL_", "OTEL_"))}
    env.update(
        WAXELL_OTLP_ENDPOINT=receiver_url,
        WAXELL_JOURNAL_DIR=os.environ["WAXELL_JOURNAL_DIR"],
        WAXELL_DB=str(Path(os.environ["WAXELL_DB"]).with_name("program.db")),
        WAXELL_CONFIG_FILE=os.environ["WAXELL_CONFIG_FILE"],
    )
    done = subprocess.run(
        [sys.executable, str(HERE / "burst_program.py"), *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Queue full" not in done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, (done.stdout, done.stderr[-4000:])
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def recover() -> Any:
    """What the next process does when it starts: adopt the journals of ended processes."""
    from waxell_observe.pipeline.pipeline import recover

    return recover(timeout=120)


# -- a burst, with the receiver up and down ---------------------------------------------------------


def test_a_burst_of_9000_runs_arrives_whole(stub_receiver: StubReceiver) -> None:
    """The batch processor this replaces dropped ~5,600 of 9,000 spans of such a burst ("Queue full,
    dropping Span") while reporting none dropped; through the journal every span arrives."""
    outcome = program(stub_receiver.url, "9000", "flush")
    otlp = outcome["sinks"]["otlp"]
    assert (otlp["sent"], otlp["journaled"], otlp["dropped"]) == (27_000, 0, 0), outcome  # start, call, end
    assert stub_receiver.wait_for(18_000, timeout=30) == 18_000  # a run span and a call span per run
    assert stub_receiver.received == 18_000  # none twice
    names = list(stub_receiver.spans.values())
    assert names.count("invoke_agent burst") == 9000 and names.count("chat gpt-4o-mini") == 9000


def test_a_receiver_down_during_the_burst_gets_everything_once_it_is_up() -> None:
    receiver = StubReceiver()  # not listening: the program's exports fail
    outcome = program(receiver.url, "3000", "exit")
    assert outcome["recording"] < 60
    receiver.start()
    try:
        report = recover()  # this process adopts the program's journal and delivers it
        assert receiver.wait_for(6000, timeout=60) == 6000
        assert report.sinks["otlp"].dropped == 0, report
        assert receiver.received == 6000
    finally:
        receiver.stop()


@pytest.mark.delivery_problems  # the receiver answers 503 before it takes the spans
@pytest.mark.usefixtures("fast_retries")
def test_a_busy_receiver_is_retried_not_dropped(stub_receiver: StubReceiver) -> None:
    stub_receiver.fail_first = 3
    WaxellObserveClient.configure(otlp_endpoint=stub_receiver.url)
    for _ in range(5):
        with WaxellContext(agent_name="patient", enforce_policy=False) as ctx:
            ctx.record_step("s")
    report = waxell_observe.flush_sync(timeout=30).sinks["otlp"]
    assert (report.sent, report.dropped, report.journaled) == (15, 0, 0)
    assert len(stub_receiver.spans) == 10 and stub_receiver.received == 10
    assert stub_receiver.requests >= 4
    assert any("503" in error for error in report.errors)


def test_a_child_that_leaves_through_os_exit_is_adopted(stub_receiver: StubReceiver) -> None:
    outcome = program(stub_receiver.url, "200", "fork")
    assert outcome["sinks"]["otlp"]["dropped"] == 0, outcome
    assert stub_receiver.wait_for(402, timeout=60) == 402  # the parent's run and the child's 200
    names = list(stub_receiver.spans.values())
    assert names.count("invoke_agent child") == 200 and names.count("invoke_agent parent") == 1


# -- runs over several batches ------------------------------------------------------------------------


def test_records_are_exported_before_their_run_ends_and_the_run_span_with_its_end(
    stub_receiver: StubReceiver,
) -> None:
    WaxellObserveClient.configure(otlp_endpoint=stub_receiver.url)
    with WaxellContext(agent_name="long-runner", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=5, tokens_out=1)
        ctx.record_score("early", 1.0)
        waxell_observe.flush_sync(timeout=10)
        assert sorted(stub_receiver.spans.values()) == ["chat gpt-4o"]  # the run goes on
        ctx.record_step("later")
        ctx.set_tag("final", "yes")
    report = waxell_observe.flush_sync(timeout=10).sinks["otlp"]
    assert (report.sent, report.dropped) == (5, 0)
    assert sorted(stub_receiver.spans.values()) == ["chat gpt-4o", "invoke_agent long-runner", "step later"]
    assert stub_receiver.received == 3


def test_a_run_spread_over_batches_is_stored_whole_by_our_receiver(otlp_server: Any) -> None:
    WaxellObserveClient.configure(otlp_endpoint=otlp_server.base_url)
    with WaxellContext(agent_name="spread", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=5, tokens_out=1)
        ctx.record_score("quality", 0.5)
        waxell_observe.flush_sync(timeout=10)
        otlp_server.run(ctx.run_id, expect=404)  # the records are kept; the run appears with its span
        ctx.set_tag("stage", "done")
    assert waxell_observe.flush_sync(timeout=10).sinks["otlp"].dropped == 0
    stored = otlp_server.run(ctx.run_id)
    assert (stored["status"], stored["tags"], stored["llm_call_count"], stored["source"]) == (
        "success", {"stage": "done"}, 1, "otlp",
    )  # fmt: skip
    assert [(s["name"], s["value"]) for s in stored["scores"]] == [("quality", 0.5)]


# -- the API key and our own receiver -------------------------------------------------------------------


@pytest.mark.delivery_problems  # the receiver refuses the spans without a key (401)
def test_without_the_key_our_keyed_receiver_refuses_the_spans(keyed_server: KeyedServer, caplog: Any) -> None:
    WaxellObserveClient.configure(otlp_endpoint=keyed_server.base_url)
    with WaxellContext(agent_name="keyless", enforce_policy=False):
        pass
    report = waxell_observe.flush_sync(timeout=10).sinks["otlp"]
    assert (report.sent, report.dropped) == (0, 2)
    (reason,) = report.drop_reasons
    assert "(401)" in reason and "missing API key" in reason


def test_in_remote_mode_the_key_goes_to_the_receiver_the_control_plane_names(
    keyed_server: KeyedServer,
) -> None:
    WaxellObserveClient.configure(api_url=keyed_server.base_url, api_key=keyed_server.key)
    with WaxellContext(agent_name="keyed-remote", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=3, tokens_out=1)
        ctx.set_tag("via", "otlp")
    report = waxell_observe.flush_sync(timeout=20)
    assert (report.sinks["otlp"].sent, report.sinks["otlp"].dropped) == (3, 0), report
    assert (report.sinks["remote"].sent, report.sinks["remote"].dropped) == (3, 0), report
    stored = keyed_server.run(ctx.run_id)
    assert (stored["trace_id"], stored["tags"], stored["llm_call_count"]) == (ctx.run_id, {"via": "otlp"}, 1)


def test_an_endpoint_on_the_control_planes_host_gets_the_key(keyed_server: KeyedServer) -> None:
    WaxellObserveClient.configure(
        api_url=keyed_server.base_url,
        api_key=keyed_server.key,
        otlp_endpoint=f"{keyed_server.base_url}/v1/traces",
    )
    with WaxellContext(agent_name="explicit-keyed", enforce_policy=False) as ctx:
        pass
    assert waxell_observe.flush_sync(timeout=20).sinks["otlp"].dropped == 0
    assert keyed_server.run(ctx.run_id)["agent_name"] == "explicit-keyed"


def test_the_key_never_goes_to_another_host(stub_receiver: StubReceiver, keyed_server: KeyedServer) -> None:
    WaxellObserveClient.configure(
        api_url=keyed_server.base_url, api_key=keyed_server.key, otlp_endpoint=stub_receiver.url
    )
    with WaxellContext(agent_name="elsewhere", enforce_policy=False):
        pass
    assert waxell_observe.flush_sync(timeout=20).sinks["otlp"].sent == 2
    assert stub_receiver.headers and all(
        "x-wax-key" not in h and "authorization" not in h for h in stub_receiver.headers
    )


@pytest.mark.delivery_problems  # a wrong key: 401, dropped and counted
def test_a_wrong_key_is_counted_as_dropped_with_the_401_reason_logged_once(
    keyed_server: KeyedServer, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="waxell_observe")
    WaxellObserveClient.configure(
        api_url=keyed_server.base_url, api_key="wax_sk_wrong", otlp_endpoint=keyed_server.base_url
    )
    for index in range(2):
        with WaxellContext(agent_name="wrong-key", enforce_policy=False) as ctx:
            ctx.record_step(f"s{index}")
        report = waxell_observe.flush_sync(timeout=20).sinks["otlp"]
    assert (report.sent, report.dropped) == (0, 6)
    (reason,) = report.drop_reasons
    assert "(401)" in reason and "invalid or revoked API key" in reason
    logged = [r for r in caplog.records if "otlp dropped" in r.getMessage()]
    assert len(logged) == 1 and "invalid or revoked API key" in logged[0].getMessage()
    keyed_server.run(ctx.run_id, expect=404)


def test_the_standard_headers_and_compression_variables_are_honoured(
    stub_receiver: StubReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,Authorization=Bearer%20backend-token")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    WaxellObserveClient.configure(otlp_endpoint=stub_receiver.url)
    with WaxellContext(agent_name="headed", enforce_policy=False):
        pass
    assert waxell_observe.flush_sync(timeout=10).sinks["otlp"].sent == 2
    (headers,) = stub_receiver.headers
    assert (headers["x-tenant"], headers["authorization"], headers["content-encoding"]) == (
        "acme", "Bearer backend-token", "gzip",
    )  # fmt: skip
    assert list(stub_receiver.spans.values()) == ["invoke_agent headed"]


@pytest.mark.delivery_problems  # the exporter object raises: its records are dropped and counted
def test_an_exporter_object_that_raises_is_counted_not_retried_forever(caplog: Any) -> None:
    class Broken:
        calls = 0

        def export(self, spans: Any) -> Any:
            Broken.calls += 1
            raise ValueError("cannot serialise")

        def shutdown(self) -> None:
            pass

    WaxellObserveClient.configure(otel_span_exporter=Broken())
    for _ in range(2):
        with WaxellContext(agent_name="broken", enforce_policy=False):
            pass
        report = waxell_observe.flush_sync(timeout=10).sinks["otlp"]
    assert (report.sent, report.dropped, report.journaled) == (0, 4, 0)
    assert list(report.drop_reasons) == ["the span exporter Broken raised ValueError: cannot serialise"]
    assert Broken.calls == 2
    assert caplog.text.count("Traceback") == 1


def test_runs_not_sampled_pass_without_spans(
    stub_receiver: StubReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    WaxellObserveClient.configure(otlp_endpoint=stub_receiver.url)
    monkeypatch.setenv(
        "TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    )  # not sampled
    with WaxellContext(agent_name="unsampled", enforce_policy=False) as ctx:
        ctx.record_step("s")
        with WaxellContext(agent_name="unsampled-child", enforce_policy=False):
            pass
    assert ctx.run.plugin_state["otel"]["sampled"] is False
    monkeypatch.delenv("TRACEPARENT")
    with WaxellContext(agent_name="sampled", enforce_policy=False):
        pass
    report = waxell_observe.flush_sync(timeout=10).sinks["otlp"]
    assert (report.sent, report.dropped) == (8, 0)  # 3 starts, 3 ends, a step and the delegation step
    assert list(stub_receiver.spans.values()) == ["invoke_agent sampled"]


def test_the_sampler_variable_is_honoured(
    stub_receiver: StubReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    WaxellObserveClient.configure(otlp_endpoint=stub_receiver.url)
    with WaxellContext(agent_name="off", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
    assert waxell_observe.flush_sync(timeout=10).sinks["otlp"].sent == 3
    assert stub_receiver.spans == {}


# -- the bodies ------------------------------------------------------------------------------------------


def test_our_protobuf_bodies_are_what_the_sdk_encoder_writes() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from waxell_observe_otel.destination import OtlpDestination
    from waxell_observe_otel.otlp_proto import ResourceScope, encode_request, span_bytes
    from waxell_observe_otel.spans import SpanData

    spans = [
        SpanData(
            0x4BF92F3577B34DA6A3CE929D0E0E4736,
            0xA3CE929D0E0E4736,
            0x00F067AA0BA902B7,
            True,
            "invoke_agent é",
            1,
            1_700_000_000_000_000_000,
            1_700_000_001_000_000_000,
            {
                "s": "text",
                "b": True,
                "f": False,
                "i": -5,
                "z": 0,
                "d": 2.5,
                "e": "",
                "ints": [1, 2],
                "strs": ["x", "y"],
                "floats": [0.5, 1.0],
                "big": 2**40,
                "long": "x" * 20_000,
            },
            [
                ("exception", 1_700_000_001_000_000_000, {"exception.type": "ValueError"}),
                ("waxell.score", 5, {}),
            ],
            True,
            "boom",
        ),
        SpanData(1, 2, 0, False, "step plain", 3, 5, 6, {}),
    ]
    destination = OtlpDestination(
        {"endpoint": "http://127.0.0.1:9/v1/traces", "resource": {"service.name": "svc"}}
    )
    resource = destination._our_resource()
    ours = encode_request(
        [span_bytes(span) for span in spans],
        ResourceScope(dict(resource.attributes), "waxell_observe", "0.1.0"),
    )
    sdk = encode_spans([destination._readable(span, resource) for span in spans]).SerializePartialToString()
    assert ours == sdk
    decoded = ExportTraceServiceRequest()
    decoded.ParseFromString(ours)
    (span, plain) = decoded.resource_spans[0].scope_spans[0].spans
    assert (span.name, span.parent_span_id.hex(), span.flags, span.status.code) == (
        "invoke_agent é", "00f067aa0ba902b7", 0x300, 2,
    )  # fmt: skip
    assert (plain.parent_span_id, plain.flags, plain.kind) == (b"", 0x100, 3)


# -- the SDK's own traffic and the network gate ---------------------------------------------------------

ONLY_OPENAI = """
policies:
  - {name: only-openai, category: network, scope: {agents: [fetcher]},
     rules: {allowed_domains: [api.openai.com]}}
"""


def test_the_network_gate_stops_the_agents_requests_not_the_sdks_own_export(
    stub_receiver: StubReceiver, caplog: Any
) -> None:
    """A network policy refusing the host the OTLP endpoint is on refuses the agent's own request
    there, never the SDK's export of its records (the drainer's requests outside any run used to be
    gated as the process's: refused, and with no identity warned about as an anonymous gate)."""
    caplog.set_level(logging.WARNING, logger="waxell_observe")
    _reset_for_tests()
    forget()
    try:
        add_policies(get_store(get_config().db_url), load_policies(ONLY_OPENAI))
        endpoint = f"http://localhost:{stub_receiver.port}/v1/traces"
        waxell_observe.init(instrument=[], agent_name="fetcher", otlp_endpoint=endpoint)
        with WaxellContext(agent_name="fetcher") as ctx:
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=1, tokens_out=1)
            with pytest.raises(PolicyViolationError):
                httpx.get(endpoint, timeout=5)
        report = waxell_observe.flush_sync(timeout=30).sinks["otlp"]
        # start, call, the policy span of the refused request, end
        assert (report.sent, report.dropped, report.journaled) == (4, 0, 0), report
        assert stub_receiver.wait_for(3, timeout=10) == 3  # the run's, the call's and the policy's spans
        assert "no agent identity" not in caplog.text
    finally:
        _reset_for_tests()
        forget()
