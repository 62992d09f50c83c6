"""Bad input: 422 naming the field, 413 over the size limit, 404 for unknown or empty run ids,
oversize strings cut (not rejected), unstorable characters cleaned, batches all-or-nothing,
and generated garbage never answered with a 5xx."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from waxell_observe_server import create_app
from waxell_observe_server.limits import TEXT_LIMIT, TRACEBACK_LIMIT

from waxell_observe.store import get_store

OBSERVE = "/api/v1/observe"
JSON = {"content-type": "application/json"}


def post_raw(client: Any, path: str, content: bytes) -> Any:
    return client.post(f"{OBSERVE}/{path}", content=content, headers=JSON)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("runs/start/", {}, "agent_name: Field required"),
        ("runs/start/", {"agent_name": "  "}, "agent_name: Value error, must be a non-empty string"),
        ("runs/start/", {"agent_name": "a", "inputs": [1]}, "inputs: Input should be a valid dictionary"),
        ("runs/start/", {"agent_name": "a", "run_id": "has space"}, "run_id: String should match pattern"),
        (
            "runs/start/",
            {"agent_name": "a", "started_at": "noon"},
            "started_at: Value error, expected epoch seconds or an ISO 8601 time, got 'noon'",
        ),
        ("runs/R/llm-calls/", {"calls": [{"tokens_in": 1}]}, "calls.0.model: Field required"),
        (
            "runs/R/llm-calls/",
            {"calls": [{"model": "m", "tokens_in": "many"}]},
            "calls.0.tokens_in: Input should be a valid integer",
        ),
        (
            "runs/R/llm-calls/",
            {"calls": [{"model": "m", "tokens_out": -1}]},
            "calls.0.tokens_out: Input should be greater than or equal to 0",
        ),
        (
            "runs/R/llm-calls/",
            {"calls": [{"model": "m", "tokens_in": 10**20}]},
            "calls.0.tokens_in: Input should be less than or equal to 2147483647",
        ),
        (
            "runs/R/llm-calls/",
            {"calls": [{"model": "m", "status": "fine"}]},
            "calls.0.status: Input should be 'ok' or 'error'",
        ),
        ("runs/R/llm-calls/", {}, "calls: Field required"),
        ("runs/R/steps/", {"steps": {"step_name": "x"}}, "steps: Input should be a valid list"),
        (
            "runs/R/steps/",
            {"steps": [{"output": "text"}]},
            "steps.0.output: Input should be a valid dictionary",
        ),
        ("runs/R/spans/", {"spans": [{"kind": "tool"}]}, "spans.0.name: Field required"),
        (
            "runs/R/spans/",
            {"spans": [{"name": "s", "duration_ms": -5}]},
            "spans.0.duration_ms: Input should be greater than or equal to 0",
        ),
        (
            "runs/R/scores/",
            {"scores": [{"name": "s"}]},
            "scores.0: Value error, a numeric score needs numeric_value",
        ),
        (
            "runs/R/scores/",
            {"scores": [{"name": "s", "data_type": "stars", "numeric_value": 1}]},
            "scores.0.data_type: Input should be 'numeric', 'categorical' or 'boolean'",
        ),
        (
            "runs/R/complete/",
            {"status": "done"},
            "status: Input should be 'success', 'error', 'blocked' or 'interrupted'",
        ),
        ("events/", {"events": [{"metadata": "x"}]}, "events.0.metadata: Input should be a valid dictionary"),
        ("policy-check/", {"workflow_name": "w"}, "agent_name: Field required"),
    ],
)
def test_invalid_bodies_get_422_naming_the_field(api: Any, path: str, body: Any, message: str) -> None:
    api.start(run_id="R")
    reply = api.post(path, body, expect=422)
    assert reply["message"].startswith(message), reply["message"]
    assert isinstance(reply["detail"], list) and reply["detail"][0]["loc"][0] == "body"


def test_malformed_json_and_wrong_shapes(client: Any) -> None:
    bad = post_raw(client, "runs/start/", b'{"agent_name": ')
    assert bad.status_code == 422
    assert bad.json()["message"] == "body: invalid JSON (JSON decode error: Expecting value)"
    assert post_raw(client, "runs/start/", b"[1, 2]").status_code == 422
    assert post_raw(client, "runs/start/", b"").status_code == 422
    assert post_raw(client, "runs/start/", b"\xff\xfe\x00").status_code == 400  # not UTF-8
    nested = b'{"agent_name": "a", "inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    deep = post_raw(client, "runs/start/", nested)
    assert deep.status_code == 400 and deep.json() == {"detail": "There was an error parsing the body"}
    # not JSON by content type: not parsed (protects local mode from cross-site form posts)
    plain = client.post(
        f"{OBSERVE}/runs/start/", content=b'{"agent_name": "a"}', headers={"content-type": "text/plain"}
    )
    assert plain.status_code == 422
    assert client.get(f"{OBSERVE}/runs/start/").status_code == 405
    assert client.get(f"{OBSERVE}/runs/start/").json() == {"detail": "Method Not Allowed"}


def test_paths_are_exact_and_never_redirect(client: Any) -> None:
    for path in ("runs/start", "runs/x/llm-calls", "policy-check", "config"):
        response = client.post(f"{OBSERVE}/{path}", json={"agent_name": "a"}, follow_redirects=False)
        assert response.status_code in (404, 405), path
        assert "location" not in response.headers
        assert response.json() == {"detail": "Not Found"} or response.status_code == 405


@pytest.mark.parametrize("record_path", ["llm-calls", "steps", "spans", "scores", "complete"])
def test_unknown_and_empty_run_ids_are_404(api: Any, record_path: str) -> None:
    body = {"llm-calls": {"calls": []}, "steps": {"steps": []}, "spans": {"spans": []},
            "scores": {"scores": []}, "complete": {}}[record_path]  # fmt: skip
    unknown = api.post(f"runs/missing/{record_path}/", body, expect=404)
    assert unknown == {"detail": "unknown run 'missing': start it with POST runs/start/ first"}
    empty = api.post(f"runs//{record_path}/", body, expect=404)
    assert empty == {"detail": "empty run id: the run was not started (POST runs/start/ first)"}
    odd = api.http.post(f"{OBSERVE}/runs/%00%2e%2e/{record_path}/", json=body)
    assert odd.status_code == 404


def test_body_size_limit_is_413(store_url: str) -> None:
    with TestClient(create_app(store_url, max_body_bytes=1000), raise_server_exceptions=False) as client:
        big = {"agent_name": "a", "inputs": {"blob": "x" * 2000}}
        declared = client.post(f"{OBSERVE}/runs/start/", json=big)
        assert (declared.status_code, declared.json()) == (
            413,
            {"detail": "request body too large: the limit is 1000 bytes"},
        )

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"agent_name": "a", "inputs": {"blob": "'
            for _ in range(10):
                yield b"y" * 200
            yield b'"}}'

        streamed = client.post(f"{OBSERVE}/runs/start/", content=chunks(), headers=JSON)
        assert streamed.status_code == 413
        assert client.get("/api/v1/read/runs/").json()["total"] == 0
        assert client.post(f"{OBSERVE}/runs/start/", json={"agent_name": "small"}).status_code == 201


def test_oversize_strings_are_cut_at_documented_limits(api: Any) -> None:
    api.start(run_id="R", agent_name="a" * 1000, session_id="s" * 300, tags={"k": "v" * 5000})
    api.post(
        "runs/R/llm-calls/",
        {
            "calls": [
                {
                    "model": "m" * 300,
                    "prompt_preview": "p" * 100_000,
                    "error_message": "e" * 40_000,
                    "task": "t" * 300,
                }
            ]
        },
    )
    api.post("runs/R/steps/", {"steps": [{"step_name": "n" * 2000, "position": 1}]})
    api.post("runs/R/complete/", {"error": "x" * 50_000, "traceback": "a" * 10_000 + "b" * 20_000})
    run = api.run("R")
    assert run["agent_name"] == "a" * 256
    assert run["session_id"] == "s" * 256
    assert run["tags"] == {"k": "v" * 1024}
    call = run["llm_calls"][0]
    assert (call["model"], call["task"]) == ("m" * 256, "t" * 256)
    assert call["prompt_preview"] == "p" * TEXT_LIMIT
    assert call["error_message"] == "e" * TEXT_LIMIT
    assert run["steps"][0]["name"] == "n" * 512
    assert run["error"] == "x" * TEXT_LIMIT
    assert run["traceback"] == "b" * TRACEBACK_LIMIT  # the end of a traceback is kept


def test_unstorable_characters_are_cleaned(client: Any, api: Any) -> None:
    raw = (
        rb'{"agent_name": "a\u0000b", "run_id": "R", "inputs": {"k\u0000": "v\ud800w", "n": NaN, "i": '
        rb"-Infinity},"
        rb' "tags": {"t": "\udfff"}}'
    )
    assert post_raw(client, "runs/start/", raw).status_code == 201
    post_raw(
        client, "runs/R/llm-calls/", rb'{"calls": [{"model": "gpt\u0000", "prompt_preview": "\ud83d x"}]}'
    )
    run = api.run("R")
    assert run["agent_name"] == "ab"
    assert run["inputs"] == {"k": "v\ufffdw", "n": "nan", "i": "-inf"}
    assert run["tags"] == {"t": "\ufffd"}
    assert (run["llm_calls"][0]["model"], run["llm_calls"][0]["prompt_preview"]) == ("gpt", "\ufffd x")
    assert api.read("runs/", agent_name="a\x00b")["total"] == 1  # NUL in a query: cleaned, not a 5xx


def test_a_batch_is_stored_whole_or_not_at_all(store_url: str, api: Any) -> None:
    """A database error in the middle of a batch (a trigger refusing one span) leaves nothing behind."""
    store = get_store(store_url)
    with store.write() as conn:
        if store.dialect == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.name = 'explode' THEN RAISE EXCEPTION "
                    "'refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON spans FOR EACH ROW EXECUTE FUNCTION refuse()")
            )
        else:
            conn.execute(text(
                "CREATE TRIGGER refuse BEFORE INSERT ON spans WHEN NEW.name = 'explode' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ))  # fmt: skip
    api.start(run_id="R")
    batch = {
        "steps": [
            {"step_name": "first", "position": 1},
            {"step_name": "tool:ok", "position": 2, "output": {"_kind": "tool_call"}},
            {"step_name": "tool:explode", "position": 3, "output": {"_kind": "tool_call", "name": "explode"}},
        ],
        "conversation_state": {"user_turns": 4},
    }
    failed = api.http.post(f"{OBSERVE}/runs/R/steps/", json=batch)
    assert (failed.status_code, failed.json()) == (500, {"detail": "internal server error"})
    run = api.run("R")
    assert (run["steps"], run["spans"], run["conversation"], run["step_count"]) == ([], [], {}, 0)
    batch["steps"].pop()
    api.post("runs/R/steps/", batch)
    run = api.run("R")
    assert (len(run["steps"]), len(run["spans"]), run["conversation"]) == (1, 1, {"user_turns": 4})


# -- generated bodies ------------------------------------------------------------------------------

_VALID: dict[str, Any] = {
    "runs/start/": {
        "agent_name": "fuzz",
        "workflow_name": "w",
        "inputs": {"q": "x"},
        "metadata": {"m": 1},
        "session_id": "s",
        "user_id": "u",
        "run_id": "F1",
        "tags": {"t": "v"},
        "started_at": 1.7e9,
        "parent_workflow_id": "P",
        "pre_execution_evaluations": [{"action": "allow"}],
    },
    "runs/{run}/llm-calls/": {
        "calls": [
            {
                "model": "gpt-4o",
                "tokens_in": 1,
                "tokens_out": 2,
                "cost": 0.1,
                "id": "c1",
                "position": 1,
                "started_at": 1.7e9,
                "attributes": {"a": 1},
            }
        ],
        "conversation_state": {"user_turns": 1, "metadata": {"x": 1}},
    },
    "runs/{run}/steps/": {
        "steps": [
            {
                "step_name": "tool:t",
                "position": 1,
                "output": {
                    "_kind": "tool_call",
                    "input": {"a": 1},
                    "duration_ms": 5,
                    "status": "error",
                    "error": "e",
                },
            },
            {
                "step_name": "retrieval:r",
                "output": {"_kind": "retrieval", "documents": [1], "top_k": 3, "scores": [0.1]},
            },
            {
                "step_name": "io:user_message",
                "output": {"_kind": "user_message", "preview": "hi", "length": 2},
            },
            {
                "step_name": "decision:d",
                "output": {"_kind": "decision", "options": ["a"], "confidence": 0.5, "metadata": {"k": 1}},
            },
            {"step_name": "retry:r", "output": {"_kind": "retry", "attempt": 2}},
            {"step_name": "plain", "output": {"k": [1, 2]}},
        ]
    },
    "runs/{run}/spans/": {
        "spans": [
            {
                "name": "s",
                "kind": "governance",
                "position": 1,
                "parent_position": 2,
                "start_offset_ms": 5,
                "attributes": {"action": "block", "metadata": {}},
                "events": [{"attributes": {"exception.message": "m"}}],
                "status": "error",
            }
        ]
    },
    "runs/{run}/scores/": {
        "scores": [
            {"name": "s", "data_type": "boolean", "string_value": "true"},
            {"name": "n", "numeric_value": 1.5, "comment": "c"},
        ]
    },
    "runs/{run}/complete/": {
        "result": {"a": 1},
        "status": "success",
        "error": "",
        "steps": [{"step_name": "s"}],
        "tags": {"x": "y"},
        "metadata": {"m": 2},
        "ended_at": 1.7e9 + 5,
        "conversation_state": {"user_turns": 1},
        "governance": {"action": "allow"},
    },
    "events/": {
        "events": [{"workflow_id": "F1", "event": "e", "metadata": {"policy_name": "p", "action": "warn"}}]
    },
    "governance-decision/": {
        "workflow_id": "F1",
        "surface": "run.start",
        "span_only": True,
        "decisions": [{"category": "c", "policy": "p", "action": "block", "reason": "r"}],
    },
    "policy-check/": {"agent_name": "a", "inputs": {"x": 1}, "signal": {"conversation_state": {}}},
}


def _random_text(rng: random.Random) -> str:
    choice = rng.randrange(9)
    if choice == 0:
        return ""
    if choice == 1:
        return "\x00" * rng.randint(1, 3) + "a"
    if choice == 2:
        return chr(rng.randint(0xD800, 0xDFFF))  # a lone surrogate (escaped by json.dumps)
    if choice == 3:
        return "z" * rng.choice([257, 513, 40_000])
    if choice == 4:
        return "".join(chr(rng.randint(1, 0x10FFFF)) for _ in range(rng.randint(1, 8)))
    if choice == 5:
        return rng.choice(["2023-01-01T00:00:00Z", "9999-12-31", "-5", "1e400", "nan", "../..", "%00"])
    return "".join(rng.choice("abcXYZ019_-.:/ ") for _ in range(rng.randint(1, 20)))


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 4 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**63, -(2**70), 10**30, rng.randint(-1000, 1000)])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, -1e308, float("nan"), float("inf"), float("-inf"), 1.7e9, 3e11])
    if kind in (4, 5, 6):
        return _random_text(rng)
    if kind in (7, 8):
        return {_random_text(rng)[:30]: _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with one random change somewhere inside."""
    if isinstance(value, dict) and value and rng.random() < 0.75:
        key = rng.choice(list(value))
        copy = dict(value)
        action = rng.randrange(4)
        if action == 0:
            del copy[key]
        elif action == 1:
            copy[key] = _random_value(rng)
        elif action == 2:
            copy[_random_text(rng)[:20]] = _random_value(rng)
        else:
            copy[key] = _mutate(rng, value[key], depth + 1)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.75:
        copy = list(value)
        index = rng.randrange(len(copy))
        copy[index] = _mutate(rng, copy[index], depth + 1) if rng.random() < 0.6 else _random_value(rng)
        if rng.random() < 0.2:
            copy.append(_random_value(rng))
        return copy
    return _random_value(rng)


def _encode(rng: random.Random, body: Any) -> bytes:
    data = json.dumps(body, allow_nan=True).encode()
    roll = rng.random()
    if roll < 0.05:
        return data[: rng.randrange(len(data) + 1)]  # cut short
    if roll < 0.1 and data:
        index = rng.randrange(len(data))
        return data[:index] + bytes([rng.randrange(256)]) + data[index + 1 :]  # one corrupt byte
    return data


def test_generated_bodies_never_get_a_5xx(client: Any) -> None:
    seed = 20240601
    rng = random.Random(seed)
    started = post_raw(client, "runs/start/", json.dumps({"agent_name": "fuzz", "run_id": "F1"}).encode())
    assert started.status_code == 201, started.text  # the run the generated requests name exists
    statuses: dict[int, int] = {}
    for i in range(500):
        template = rng.choice(list(_VALID))
        run = rng.choice(["F1", "F1", "F1", "unknown", "", "%00", "a" * 80, "..", "r%2Fs"])
        path = template.replace("{run}", run)
        body = _VALID[template]
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            body = _mutate(rng, body)
        content = _encode(rng, body)
        response = post_raw(client, path, content)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (seed, i, path, content[:500], response.text)
        assert isinstance(response.json(), dict), (seed, i, path, response.text)
    assert statuses.get(200, 0) + statuses.get(201, 0) > 60  # the generator also produces valid input
    assert statuses.get(422, 0) > 60
    # whatever got stored reads back
    listing = client.get("/api/v1/read/runs/", params={"limit": 500})
    assert listing.status_code == 200
    for run in listing.json()["runs"]:
        detail = client.get(f"/api/v1/read/runs/{run['run_id']}/")
        assert detail.status_code == 200, detail.text
    for path in ("sessions/", "users/", "costs/", "audit/", "agents/"):
        assert client.get(f"/api/v1/read/{path}").status_code == 200


def test_generated_queries_never_get_a_5xx(client: Any) -> None:
    rng = random.Random(77)
    params = [
        "agent_name",
        "status",
        "session_id",
        "tag",
        "since",
        "until",
        "roots_only",
        "order_by",
        "order",
        "limit",
        "offset",
        "user_id",
        "run_id",
        "action",
        "label",
        "version",
    ]
    paths = [
        "runs/",
        "sessions/",
        "users/",
        "costs/",
        "audit/",
        "agents/",
        "runs/x/",
        "sessions/s/",
        "users/u/",
        "policies/",
    ]
    for i in range(150):
        query = "&".join(
            f"{rng.choice(params)}={_quote(str(_random_value(rng))[:200])}" for _ in range(rng.randint(1, 4))
        )
        path = rng.choice(paths)
        response = client.get(f"/api/v1/read/{path}?{query}")
        assert response.status_code < 500, (i, path, query, response.text)
        prompt = client.get(f"{OBSERVE}/prompts/{_quote(_random_text(rng)[:50]) or 'p'}/?{query}")
        assert prompt.status_code < 500, (i, query, prompt.text)
        manifest = client.get(f"{OBSERVE}/policy-manifest/?{query}")
        assert manifest.status_code == 200, (i, query, manifest.text)


def _quote(text: str) -> str:
    """Percent-encoded UTF-8 (lone surrogates become invalid UTF-8 bytes, on purpose)."""
    from urllib.parse import quote

    return quote(text.encode("utf-8", "surrogatepass"), safe="")
