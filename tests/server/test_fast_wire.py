"""The batch endpoint's msgspec fast path (``fast_wire``) decodes a body to exactly what pydantic's
validation gives, or leaves the body to pydantic.

Random bodies (a full entry with values swapped for numbers, strings, times as text, booleans,
nulls, nested values, bad ids, missing fields, unknown fields, NaN) are decoded both ways: every
body the fast path takes must validate with pydantic to the same values, of the same types.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from waxell_observe_server import fast_wire
from waxell_observe_server.batch_routes import BATCH_MAX_RUNS, _WholeBody
from waxell_observe_server.wire_models import BatchRunIn

OBSERVE = "/api/v1/observe"
T0 = 1_700_000_000.0


def entry(run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "start": {"agent_name": "a", "workflow_name": "w", "inputs": {"q": "x", "n": [1, 2.5]},
                  "metadata": {"v": "1"}, "session_id": "s", "user_id": "u", "tags": {"t": "1"},
                  "started_at": T0, "run_id": run_id, "auto_collected": False,
                  "pre_execution_evaluations": [{"policy_name": "p"}]},
        "llm_calls": [{"id": f"{run_id}-c", "model": "gpt-4o", "tokens_in": 3, "tokens_out": 4, "cost": 0.5,
                       "duration_ms": 12, "position": 1, "status": "ok", "started_at": T0 + 1,
                       "attributes": {"k": 1}}],
        "steps": [{"step_name": "s", "output": {"o": 1}, "position": 1, "seq": 2, "started_at": T0 + 2}],
        "spans": [{"id": f"{run_id}-s", "name": "n", "kind": "tool", "position": 3, "start_offset_ms": -5,
                   "duration_ms": 1.5, "input_data": {"i": 1}, "output_data": "out", "events": [{"e": 1}],
                   "status": "error", "error": "boom"}],
        "scores": [{"id": f"{run_id}-q", "name": "q", "numeric_value": 0.9, "created_at": T0 + 3},
                   {"name": "b", "data_type": "boolean", "string_value": "true"}],
        "conversation_state": {"user_turns": 1},
        "complete": {"status": "success", "result": {"r": 1}, "ended_at": T0 + 4, "tags": {"x": "y"},
                     "steps": [{"step_name": "final", "position": 2}], "governance": {"action": "allow"}},
    }  # fmt: skip


REPLACEMENTS: list[Any] = [
    0, 1, -1, 7, 2**31 - 1, 2**31, 2**63, 10**30, 0.0, -0.0, 1.5, -2.5, 1e20, 1e13, 1e13 + 1, 253402300799.0,
    253402300800.0, "", " ", "x", "12", "1.5", "2023-11-14T22:13:20Z", "2023-11-14 22:13:20", "a\n", "ok",
    "error", "boolean", "categorical", "numeric", "true", "TRUE", "success", "interrupted", "é", "a\x00b",
    "x" * 70, True, False, None, [], [1, "a"], {}, {"k": [1, {"z": None}]}, float("nan"), float("inf"),
]  # fmt: skip


def mutate(rng: random.Random, value: Any) -> Any:
    """``value`` with one thing changed somewhere: a value replaced, a key removed or added."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        copied = dict(value)
        key = rng.choice(list(copied))
        roll = rng.random()
        if roll < 0.1:
            del copied[key]
        elif roll < 0.15:
            copied["unknown_" + key] = rng.choice(REPLACEMENTS)
        elif roll < 0.6:
            copied[key] = mutate(rng, copied[key])
        else:
            copied[key] = copy.deepcopy(rng.choice(REPLACEMENTS))
        return copied
    if isinstance(value, list) and value and rng.random() < 0.8:
        copied = list(value)
        index = rng.randrange(len(copied))
        copied[index] = mutate(rng, copied[index])
        return copied
    return copy.deepcopy(rng.choice(REPLACEMENTS))


def values(obj: Any) -> Any:
    """A model's or struct's fields, recursively, each with its type."""
    if isinstance(obj, list):
        return [values(item) for item in obj]
    names = getattr(type(obj), "model_fields", None) or getattr(type(obj), "__struct_fields__", None)
    if names is not None:
        return {name: values(getattr(obj, name)) for name in names}
    if isinstance(obj, dict):
        return {key: values(item) for key, item in obj.items()}
    return (type(obj).__name__, repr(obj))


def test_what_the_fast_path_decodes_is_what_pydantic_validates() -> None:
    rng = random.Random(20261207)
    taken = refused = 0
    for i in range(3000):
        body: Any = {"runs": [entry(f"r{i}-{n}") for n in range(rng.randint(1, 3))]}
        for _ in range(rng.randint(0, 3)):
            body = mutate(rng, body)
        raw = json.dumps(body, allow_nan=True).encode()
        fast = fast_wire.decode_batch(raw, BATCH_MAX_RUNS)
        if fast is None:
            refused += 1
            continue
        taken += 1
        slow = _WholeBody.model_validate_json(raw).runs  # raises if the fast path took an invalid body
        assert values(fast) == values(slow), raw
        assert all(s.value == f.value for e, g in zip(slow, fast, strict=True) for s, f in
                   zip(e.scores or [], g.scores or [], strict=True))  # fmt: skip
    assert taken > 800 and refused > 800, (taken, refused)


def test_a_decoded_entry_made_a_model_again_is_the_validated_one() -> None:
    raw = json.dumps({"runs": [entry("m-1")]}).encode()
    decoded = fast_wire.decode_batch(raw, BATCH_MAX_RUNS)
    assert decoded is not None and not isinstance(decoded[0], BatchRunIn)
    model = fast_wire.as_model(decoded[0])
    assert isinstance(model, BatchRunIn)
    assert model == _WholeBody.model_validate_json(raw).runs[0]
    assert fast_wire.as_model(model) is model


def test_bodies_left_to_pydantic() -> None:
    def decoded(change: dict[str, Any]) -> Any:
        one = entry("p-1")
        one["start"].update(change)
        return fast_wire.decode_batch(json.dumps({"runs": [one]}).encode(), BATCH_MAX_RUNS)

    assert decoded({}) is not None
    for change in ({"started_at": "2023-11-14T22:13:20Z"}, {"agent_name": 5}, {"agent_name": "  "},
                   {"auto_collected": 1}, {"started_at": -1}, {"run_id": "other"}):  # fmt: skip
        assert decoded(change) is None, change
    many = json.dumps({"runs": [entry(f"n-{i}") for i in range(BATCH_MAX_RUNS + 1)]}).encode()
    assert fast_wire.decode_batch(many, BATCH_MAX_RUNS) is None
    assert fast_wire.decode_batch(b'{"runs": [{"run_id": "a\\n"}]}', BATCH_MAX_RUNS) is None
    assert fast_wire.decode_batch(b'{"runs": [{"run_id": "\\ud800"}]}', BATCH_MAX_RUNS) is None


def test_a_body_pydantic_takes_is_stored_as_the_same_values_would_be(api: Any) -> None:
    # ISO times and a number as a string: not the fast path's form, stored all the same
    as_text = entry("text-1")
    as_text["start"]["started_at"] = "2023-11-14T22:13:20Z"
    as_text["llm_calls"][0]["model"] = 4
    as_numbers = entry("numbers-1")
    as_numbers["start"]["started_at"] = T0
    as_numbers["llm_calls"][0]["model"] = "4"
    reply = api.http.post(f"{OBSERVE}/runs/batch/", json={"runs": [as_text, as_numbers]})
    assert reply.status_code == 200 and [r["status"] for r in reply.json()["runs"]] == [201, 201]
    text_run, number_run = api.run("text-1"), api.run("numbers-1")
    assert text_run["started_at"] == number_run["started_at"]
    assert [c["model"] for c in text_run["llm_calls"]] == ["4"]
