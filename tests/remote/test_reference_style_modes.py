"""One agent program written in the reference SDK's style — ``init``, ``init_tracing`` / ``flush_tracing``
/ ``is_tracing_enabled`` / ``shutdown_tracing``, the blocking client (``get_prompt_sync`` with keyword
arguments, typed ``PromptInfo``; ``PromptNotFoundError`` caught for a fallback prompt), a compiled prompt
linked to the LLM call that used it, ``@observe`` with an injected context, an ``async with`` context and
``await waxell.flush()`` — runs unchanged in its own process, embedded (a local store) and remote (against
``waxell-observe serve`` on 127.0.0.1). What it recorded is read back from the store and through the
server's read API (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from waxell_observe.store import get_store
from waxell_observe.store.reader import RunFilter, get_run, list_runs

PROGRAM = textwrap.dedent(
    """
    import asyncio
    import json
    import logging
    import sys

    import waxell_observe as waxell
    from waxell_observe import (
        PromptInfo,
        PromptNotFoundError,
        WaxellContext,
        WaxellObserveClient,
        flush_tracing,
        init_tracing,
        is_tracing_enabled,
        shutdown_tracing,
    )
    from waxell_observe.types import CompiledPromptText

    AGENT, PROMPT = sys.argv[1:3]
    FALLBACK = PromptInfo(name=PROMPT, version=0, prompt_type="text", content="Hi {{customer}}",
                          content_hash="fallback-hash")

    waxell.init(agent_name=AGENT, workflow_name="support", instrument=[])
    init_tracing(resource_attributes={"deployment.environment": "ci"})
    log = logging.getLogger("support.agent")
    client = WaxellObserveClient()


    @waxell.observe(agent_name=AGENT, workflow_name="support")
    def answer(question: str, waxell_ctx=None) -> str:
        try:
            prompt = client.get_prompt_sync(name=PROMPT, label="prod")
            source = "control plane"
        except PromptNotFoundError as missing:
            prompt, source = FALLBACK, f"fallback ({missing.status_code})"
        text = prompt.compile(customer="Ada")
        assert isinstance(text, CompiledPromptText) and isinstance(prompt, PromptInfo)
        log.info("answering %r with the %s prompt", question, source)
        waxell_ctx.record_llm_call(
            model="gpt-4o", tokens_in=40, tokens_out=8, cost=0.25, task="answer",
            prompt_hash=text._waxell_template_hash, prompt_preview=str(text), response_preview="Hello Ada",
        )
        waxell.score("helpful", True, data_type="boolean")
        return f"{text} ({prompt.version})"


    async def follow_up() -> str:
        async with WaxellContext(agent_name=AGENT, workflow_name="follow-up", enforce_policy=False) as ctx:
            ctx.record_step("plan", output={"next": "email"})
            await waxell.flush()
        return ctx.run_id


    out = {"answer": answer("where is my order?"), "tracing": is_tracing_enabled()}
    out["follow_up"] = asyncio.run(follow_up())
    flush_tracing(timeout_millis=10000)
    out["pending"] = waxell.flush_sync(timeout=30).pending
    shutdown_tracing()
    out["tracing_after"] = is_tracing_enabled()
    print(json.dumps(out))
    """
)


def _run(tmp_path: Path, env: dict[str, str], agent: str, prompt: str) -> dict[str, Any]:
    script = tmp_path / "agent.py"
    script.write_text(PROGRAM)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WAXELL_", "OTEL_"))}
    base.update(
        WAXELL_JOURNAL_DIR=str(tmp_path / "journal"), WAXELL_CONFIG_FILE=str(tmp_path / "none"), **env
    )
    done = subprocess.run(
        [sys.executable, str(script), agent, prompt], capture_output=True, text=True, env=base, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_embedded_the_program_falls_back_and_records_everything_locally(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    agent = f"style-{uuid.uuid4().hex[:8]}"
    out = _run(tmp_path, {"WAXELL_DB": str(db)}, agent, "greeting")
    assert out["answer"] == "Hi Ada (0)"  # no control plane: the fallback prompt
    assert (out["pending"], out["tracing"], out["tracing_after"]) == (0, True, False)
    with get_store(f"sqlite:///{db}").read() as conn:
        listed = {r["workflow_name"]: r["run_id"] for r in list_runs(conn, RunFilter(), limit=10)}
        support, follow = get_run(conn, listed["support"]), get_run(conn, listed["follow-up"])
    assert support is not None and follow is not None and follow["run_id"] == out["follow_up"]
    assert (support["agent_name"], support["status"]) == (agent, "success")
    [call] = support["llm_calls"]
    assert (call["model"], call["tokens_in"], call["cost"], call["attributes"]["prompt_hash"]) == (
        "gpt-4o",
        40,
        0.25,
        "fallback-hash",
    )
    assert call["prompt_preview"] == "Hi Ada"
    assert [(s["name"], s["value"]) for s in support["scores"]] == [("helpful", True)]
    assert [(s["name"], s["output"]) for s in follow["steps"]] == [("plan", {"next": "email"})]


def test_remote_the_program_uses_the_control_planes_prompt_and_links_its_call(
    shared_server: Any, tmp_path: Path
) -> None:
    agent = f"style-{uuid.uuid4().hex[:8]}"
    prompt = f"{agent}-greeting"
    subprocess.run(
        [sys.executable, "-c", "from waxell_observe.cli import main; main()", "prompts", "add", prompt,
         "--text", "Hello {{customer}}", "--label", "prod", "--db", shared_server.db],
        check=True, capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")},
    )  # fmt: skip
    out = _run(
        tmp_path, {"WAXELL_API_URL": shared_server.url, "WAXELL_DB": str(tmp_path / "x.db")}, agent, prompt
    )
    assert out["answer"] == "Hello Ada (1)"
    assert (out["pending"], out["tracing"], out["tracing_after"]) == (0, True, False)

    runs = shared_server.list_runs(agent_name=agent)["runs"]
    by_workflow = {r["workflow_name"]: r["run_id"] for r in runs}
    assert by_workflow["follow-up"] == out["follow_up"]
    support = shared_server.read_run(by_workflow["support"])
    assert (support["agent_name"], support["status"]) == (agent, "success")
    [prompt_span] = [s for s in support["spans"] if s["kind"] == "prompt"]
    assert prompt_span["name"] == f"prompt.use:{prompt}"
    assert (prompt_span["attributes"]["version"], prompt_span["attributes"]["label"]) == (1, "prod")
    [call] = support["llm_calls"]
    assert call["attributes"]["prompt_hash"] == prompt_span["attributes"]["content_hash"]
    assert [(s["name"], s["value"]) for s in support["scores"]] == [("helpful", True)]
    follow = shared_server.read_run(out["follow_up"])
    assert [(s["name"], s["output"]) for s in follow["steps"]] == [("plan", {"next": "email"})]

    usage = httpx.get(f"{shared_server.url}/api/v1/read/prompts/{prompt}/", timeout=30).json()
    [version] = usage["versions"]
    assert (version["usage"]["run_count"], version["usage"]["linked_calls"]["count"]) == (1, 1)

    # init_tracing found the server's OTLP receiver (GET config/): the log line is filed under the run.
    deadline, logs = time.monotonic() + 30, list[str]()
    while time.monotonic() < deadline and not logs:
        reply = httpx.get(f"{shared_server.url}/api/v1/read/runs/{support['run_id']}/logs/", timeout=10)
        logs = [entry["body"] for entry in reply.json()["logs"] if entry["logger"] == "support.agent"]
        time.sleep(0.2)
    assert logs == ["answering 'where is my order?' with the control plane prompt"]
