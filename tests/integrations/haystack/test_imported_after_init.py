"""Haystack, AutoGen AgentChat and Agno imported after ``init()`` (in a fresh interpreter): each
integration waits for its framework's import, then loads and patches it as if it had come first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PROGRAM = """
import json
import waxell_observe
names = ["haystack", "autogen", "agno"]
waxell_observe.init(instrument=names)
before = {name: waxell_observe.diagnose()["integrations"][name]["state"] for name in names}
import haystack, autogen_agentchat, agno
after = {name: waxell_observe.diagnose()["integrations"][name]["state"] for name in names}
from haystack.tracing.tracer import ProxyTracer
from haystack.tools.tool import Tool
from autogen_core.tools._base import BaseTool
from agno.tools.function import FunctionCall
print(json.dumps({
    "before": before,
    "after": after,
    "patched": [
        type(ProxyTracer.__dict__["trace"]).__name__,
        type(Tool.__dict__["invoke"]).__name__,
        type(BaseTool.__dict__["run_json"]).__name__,
        type(FunctionCall.__dict__["execute"]).__name__,
    ],
}))
"""


def test_frameworks_imported_after_init_are_patched_then() -> None:
    env = dict(os.environ, HAYSTACK_TELEMETRY_ENABLED="False", AGNO_TELEMETRY="false")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROGRAM)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["before"] == {"haystack": "waiting", "autogen": "waiting", "agno": "waiting"}
    assert report["after"] == {"haystack": "active", "autogen": "active", "agno": "active"}
    assert report["patched"] == ["FunctionWrapper"] * 4
