"""The agent's hot path: what the fast paths of recording skip must not change what is recorded.

Frames are compared with a reference encoding built from the ``*_FIELDS`` tuples; the fast paths
of validation, serialisation, capture, binding, pricing and hook dispatch with the general code
they shortcut.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import math
import os
import uuid
from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext, hookimpl
from waxell_observe.config import get_config
from waxell_observe.decorators import _runtime
from waxell_observe.decorators.signature import CallSignature
from waxell_observe.pipeline import frames
from waxell_observe.pipeline import pipeline as pipeline_module
from waxell_observe.pipeline.reader import JournalReader
from waxell_observe.plugins import plugin_errors, plugin_manager
from waxell_observe.pricing import (
    estimate_cost,
    infer_provider,
    model_facts,
    register_model,
    unregister_model,
)
from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord, new_id
from waxell_observe.run import Run
from waxell_observe.serialize import jsonable, to_jsonable


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


VALUES: list[Any] = [
    None, True, 0, -3, 1.5, math.nan, math.inf, -math.inf, "", "x" * 500, Text("t"), Color.RED, Level.HIGH,
    datetime.date(2024, 1, 2), decimal.Decimal("1.25"), uuid.UUID(int=7), b"bytes", (1, 2), {3}, Opaque(),
    {"a": 1, "b": "s", "c": None, "d": True}, {"f": 1.0}, {"nan": math.nan}, {1: "int key"}, {"e": Color.RED},
    {"lvl": Level.HIGH}, {"t": Text("v")}, {"nested": {"a": [1, {"b": None}]}}, {"long": "y" * 500},
    {f"k{i}": i for i in range(20)}, [1, "a", None], [],
]  # fmt: skip


# -- frames: the encoders write exactly the field tuples ----------------------------------------


def _reference(fields: tuple[str, ...], head: tuple[Any, ...], source: Any, **override: Any) -> list[Any]:
    values = list(head)
    for name in fields[len(head) :]:
        values.append(override[name] if name in override else getattr(source, name))
    return values


def _bytes(values: list[Any]) -> bytes:
    """The reference encoding: the values in field order, encoded as one array."""
    return frames._encode(tuple(values))


def _run(**state: Any) -> Run:
    run = Run(agent_name="a", config=get_config(), workflow_name="w", inputs={"q": 1}, metadata={"m": "x"},
              tags={"t": "v"}, session_id="s", user_id="u", user_group="g")  # fmt: skip
    run.plugin_state.update(state)
    run.started_at, run.ended_at, run.status, run.result = 1.5, 2.5, "success", {"r": [1]}
    run.tokens_in, run.tokens_out, run.total_cost = 3, 4, 0.25
    run.llm_call_count, run.step_count, run.span_count = 1, 2, 3
    return run


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"otel": {"trace_id": 0xABC, "span_id": 0xDEF}},
        {"otel": {"trace_id": "t" * 32, "span_id": "s" * 16}},
    ],
)
def test_run_frames_follow_the_field_tuples(state: dict[str, Any]) -> None:
    run = _run(**state)
    trace = frames._trace(run) if run.plugin_state else ("", "")
    start = frames.encode_start(7, run, [{"policy": "p"}])
    assert start == _bytes(_reference(
        frames.START_FIELDS, (frames.START, 7), run, trace_id=trace[0], root_span_id=trace[1],
        pre_evaluations=[{"policy": "p"}],
    ))  # fmt: skip
    from waxell_observe.conversation import ConversationState

    run.conversation = ConversationState()
    run.conversation.record_user_message("hi")
    end = frames.encode_end(7, run)
    assert end == _bytes(
        _reference(
            frames.END_FIELDS,
            (frames.END, 7),
            run,
            trace_id=trace[0],
            root_span_id=trace[1],
            pre_evaluations=None,
            conversation=run.conversation_state(),
            governance=None,
        )
    )
    assert frames.as_dict(frames.decode(end))["conversation"]["user_turns"] == 1


def test_record_frames_follow_the_field_tuples() -> None:
    call = LLMCallRecord(
        "m", 1, 2, 0.5, "p", "t", "pp", "rp", 3.0, "ok", "", "", 9.0, 4, new_id(), "ps", {"a": 1}
    )
    step = StepRecord("s", 2, {"o": 1}, 8.0, new_id(), 5)
    span = SpanRecord("policy", "n", "error", 1.0, 7.0, {"k": 1}, {"i": 1}, [2], 6, new_id(), "ps", "e")
    score = ScoreRecord("q", 0.5, "numeric", "c", 6.0, new_id())
    run = _run()
    checks = [
        (frames.encode_llm(3, run.run_id, call), frames.LLM_FIELDS, (frames.LLM, 3, run.run_id), call, {}),
        (frames.encode_step(3, run.run_id, step), frames.STEP_FIELDS, (frames.STEP, 3, run.run_id), step, {}),
        (
            frames.encode_span(3, run, span),
            frames.SPAN_FIELDS,
            (frames.SPAN, 3, run.run_id),
            span,
            {"span_kind": "policy", "agent_name": "a", "workflow_name": "w"},
        ),
        (
            frames.encode_score(3, run.run_id, score),
            frames.SCORE_FIELDS,
            (frames.SCORE, 3, run.run_id),
            score,
            {},
        ),
    ]
    for data, fields, head, record, override in checks:
        assert data == _bytes(_reference(fields, head, record, **override))


# -- what a run records ends up in the journal, frame by frame ----------------------------------


def _journal_frames() -> list[dict[str, Any]]:
    current = pipeline_module.existing()
    assert current is not None
    out = []
    for journal in current.journals.values():
        reader = JournalReader(journal.directory, live=journal)
        data, _ = reader.read(reader.first_position(), max_frames=100_000)
        out += [frames.as_dict(frames.decode(d)) for d in data]
    return out


def test_each_record_is_journaled_when_it_is_made_with_what_it_returned() -> None:
    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:
        call = ctx.record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=150, cached_tokens_in=100)
        step = ctx.record_step("s", output={"i": 1})
        span = ctx.record_tool_call(name="t", input={"q": 1}, output="r")
        score = ctx.record_score("q", 1)
        mine = [f for f in _journal_frames() if f.get("run_id") == ctx.run_id]
        assert [f["kind"] for f in mine] == [frames.START, frames.LLM, frames.STEP, frames.SPAN, frames.SCORE]
    assert call is not None and step is not None and span is not None and score is not None
    by_kind = {f["kind"]: f for f in _journal_frames() if f.get("run_id") == ctx.run_id}
    assert by_kind[frames.LLM]["cost"] == call.cost == estimate_cost("gpt-4o", 300, 150, cached_tokens_in=100)
    assert by_kind[frames.LLM]["provider"] == call.provider == "openai"
    assert by_kind[frames.LLM]["attributes"] == call.attributes == {"cached_tokens_in": 100}
    assert by_kind[frames.STEP]["id"] == step.id and by_kind[frames.STEP]["output"] == {"i": 1}
    assert (by_kind[frames.STEP]["position"], by_kind[frames.STEP]["seq"]) == (1, 2)
    assert by_kind[frames.SPAN]["position"] == 3 and by_kind[frames.SPAN]["input"] == {"q": 1}
    assert by_kind[frames.SCORE]["value"] == 1.0 and isinstance(score.value, float)
    end = by_kind[frames.END]
    assert (end["status"], end["llm_call_count"], end["step_count"], end["span_count"]) == (
        "success",
        1,
        1,
        1,
    )
    assert ctx.run is not None and ctx.run.tool_call_count == 1 and ctx.run.tool_names == ["t"]


def test_recorded_values_are_copies_taken_when_recorded() -> None:
    output = {"i": 1}
    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:
        step = ctx.record_step("s", output=output)
        span = ctx.record_tool_call(name="t", input=output)
        output["i"] = 2
    assert step is not None and step.output == {"i": 1} and step.output is not output
    assert span is not None and span.input == {"i": 1}


def test_a_pipeline_reset_in_the_middle_of_a_run_sends_later_records_to_the_new_journal(
    read_run: Any,
) -> None:
    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:
        ctx.record_step("before")
        pipeline_module.reset(timeout=5)
        ctx.record_step("after")
    run = read_run(ctx.run_id)
    assert [s["name"] for s in run["steps"]] == ["before", "after"]
    assert run["status"] == "success"


# -- hook dispatch: the run's table follows plugin changes ------------------------------------------


class Recorder:
    def __init__(self, active: bool = True) -> None:
        self.events: list[str] = []
        self.active = active

    def waxell_active(self, config: Any) -> bool:
        return self.active

    @hookimpl
    def on_step(self, run: Any, step: Any) -> None:
        self.events.append(step.name)

    @hookimpl
    def on_score(self, run: Any, score: Any) -> None:
        raise RuntimeError("broken plugin")


def test_plugins_registered_unregistered_or_switched_mid_run_are_followed(register_plugin: Any) -> None:
    recorder = Recorder(active=False)
    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:
        ctx.record_step("before-registration")
        register_plugin(recorder)
        ctx.record_step("inactive")
        recorder.active = True
        ctx.record_step("still-cached")  # the answer is cached per configuration ...
        plugin_manager().invalidate()  # ... until the plugin says it changed
        ctx.record_step("active")
        plugin_manager().unregister(recorder)
        ctx.record_step("unregistered")
    assert recorder.events == ["active"]


def test_a_failing_plugin_is_isolated_and_counted_on_the_fast_path(register_plugin: Any) -> None:
    register_plugin(Recorder(), name="broken-recorder")
    before = plugin_errors[("broken-recorder", "on_score")]
    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:
        first = ctx.record_score("q", 0.5)
        second = ctx.record_score("q", 0.7)
    assert first is not None and second is not None
    assert plugin_errors[("broken-recorder", "on_score")] == before + 2


def test_the_only_plugin_failing_is_isolated_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from waxell_observe.pipeline import plugin as pipeline_plugin

    # plugins an earlier test of this process left registered (evaluate()'s trace collector stays for
    # the process) would make the pipeline's implementation one of several: take them off meanwhile
    manager = plugin_manager()
    others = [
        (impl.plugin, impl.plugin_name)
        for impl in manager.hook.on_score.get_hookimpls()
        if impl.plugin_name != pipeline_plugin.NAME
    ]
    for plugin, _ in others:
        manager.unregister(plugin)
    try:
        _only_plugin_failing(monkeypatch)
    finally:
        for plugin, name in others:
            manager.register(plugin, name=name)


def _only_plugin_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    from waxell_observe.pipeline import plugin as pipeline_plugin

    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:

        def broken(run: Any, score: Any) -> None:
            raise RuntimeError("journal trouble")

        hooks = ctx.run._hooks  # type: ignore[union-attr]
        assert hooks.owners.get("on_score") == pipeline_plugin.NAME  # the pipeline alone: called unwrapped
        monkeypatch.setattr(hooks, "on_score", broken)
        before = plugin_errors[(pipeline_plugin.NAME, "on_score")]
        assert ctx.record_score("q", 0.5) is not None
        assert plugin_errors[(pipeline_plugin.NAME, "on_score")] == before + 1
        monkeypatch.undo()


def test_emit_still_dispatches_record_hooks(register_plugin: Any) -> None:
    from waxell_observe.plugins import emit

    recorder = register_plugin(Recorder())
    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:
        run = ctx.run
        emit("on_step", run, StepRecord("emitted", 99, None, 0.0, new_id(), 99))
        emit("on_score", run, ScoreRecord("q", 1.0))  # the recorder raises: isolated
    assert "emitted" in recorder.events


# -- the shortcuts equal the general code they skip ------------------------------------------------


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_to_jsonable_fast_path_equals_the_general_conversion(value: Any) -> None:
    from waxell_observe import serialize

    expected = serialize._convert(value, "v", 0)
    got = to_jsonable(value, where="v")
    assert repr(got) == repr(expected)
    assert repr(jsonable(value, "v of %r", "name")) == repr(expected)
    if isinstance(value, dict):
        assert got is not value


@pytest.mark.parametrize("limit", [0, 10, 200])
@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_captured_values_need_no_second_conversion(value: Any, limit: int) -> None:
    captured = _runtime.capture_json(value, limit)
    assert repr(to_jsonable(captured)) == repr(captured)
    plain = _runtime.capture(value, limit)  # the general capture: floats left alone, else the same
    assert repr(to_jsonable(plain)) == repr(captured)


def _general_bind(signature: CallSignature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    plain, signature.plain = signature.plain, None
    try:
        return signature.bind(args, kwargs)
    finally:
        signature.plain = plain


def test_binding_shortcut_equals_the_general_binding() -> None:
    def f(a, b, /, c): ...  # noqa: E704
    def g(a, b=2, **kw): ...  # noqa: E704
    def h(a, *args): ...  # noqa: E704
    def k(self, a): ...  # noqa: E704
    def m(a, *, b=1): ...  # noqa: E704

    for fn, args in [(f, (1, 2, 3)), (g, (1, 5)), (g, (1,)), (h, (1, 2)), (k, (0, 1)), (m, (1,))]:
        signature = CallSignature(fn)
        assert signature.bind(args, {}) == _general_bind(signature, args, {})
    assert CallSignature(f).plain == ("a", "b", "c")
    assert (
        CallSignature(h).plain is None and CallSignature(k).plain is None and CallSignature(m).plain is None
    )


def test_model_facts_follow_the_catalog() -> None:
    assert model_facts("gpt-4o") == (waxell_observe.pricing.lookup("gpt-4o"), infer_provider("gpt-4o"))
    assert model_facts("my-private-model")[0] is None
    register_model("my-private-model", provider="acme", input_per_million=1.0, output_per_million=2.0)
    try:
        info, provider = model_facts("my-private-model")
        assert info is not None and provider == "acme"
        with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:
            call = ctx.record_llm_call(model="my-private-model", tokens_in=1_000_000, tokens_out=1_000_000)
        assert call is not None and (call.cost, call.provider) == (3.0, "acme")
    finally:
        unregister_model("my-private-model")
    assert model_facts("my-private-model")[0] is None


# -- validation: the exact-type shortcuts let through what the checks accept, no more -----------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tokens_in": True},
        {"tokens_in": -1},
        {"tokens_out": 1.0},
        {"cached_tokens_in": False},
        {"cached_tokens_in": None},
        {"cost": math.nan},
        {"cost": math.inf},
        {"cost": -0.1},
        {"cost": True},
        {"status": "weird"},
        {"model": " "},
        {"model": 3},
        {"duration_ms": -1},
    ],
)
def test_bad_llm_calls_still_raise(kwargs: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"model": "gpt-4o", "tokens_in": 1, "tokens_out": 1, **kwargs}
    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx, pytest.raises(ValueError):
        ctx.record_llm_call(**fields)


def test_subclasses_and_ints_are_accepted_as_before() -> None:
    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:
        call = ctx.record_llm_call(model=Text("gpt-4o"), tokens_in=Level.HIGH, tokens_out=1, cost=2)
        score = ctx.record_score(Text("q"), 1)
        step = ctx.record_step(Text("s"))
        span = ctx.record_span("custom", "n", status="ok")
    assert call is not None and call.cost == 2.0 and isinstance(call.cost, float)
    assert score is not None and score.value == 1.0 and isinstance(score.value, float)
    assert step is not None and span is not None
    with WaxellContext(agent_name="hot", enforce_policy=False) as ctx:
        with pytest.raises(ValueError):
            ctx.record_score("q", math.nan)
        with pytest.raises(ValueError):
            ctx.record_score("q", 1, data_type="weird")
        with pytest.raises(ValueError):
            ctx.record_span(["not", "a", "kind"], "n")  # type: ignore[arg-type]


# -- ids ---------------------------------------------------------------------------------------------


def test_ids_are_unique_hex_and_not_shared_with_a_forked_child() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    if not hasattr(os, "fork"):
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, "".join(new_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as handle:
        child = handle.read()
    theirs = {child[i : i + 32] for i in range(0, len(child), 32)}
    mine = {new_id() for _ in range(50)}
    assert len(theirs) == 50 and not theirs & mine
