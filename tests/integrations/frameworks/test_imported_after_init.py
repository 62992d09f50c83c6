"""Agent frameworks imported after ``init()`` (in a fresh interpreter): each integration waits for its
framework's import, then loads and instruments it exactly as if the framework had come first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PROGRAM = """
import json
import waxell_observe
waxell_observe.init(instrument=["pydantic_ai", "smolagents", "dspy", "openai_agents"])
names = ["pydantic_ai", "smolagents", "dspy", "openai_agents"]
before = {name: waxell_observe.diagnose()["integrations"][name]["state"] for name in names}
import agents, dspy, pydantic_ai, smolagents
after = {name: waxell_observe.diagnose()["integrations"][name]["state"] for name in names}
from dspy.dsp.utils.settings import Settings
from pydantic_ai import Agent
from smolagents.agents import MultiStepAgent
from smolagents.tools import Tool
from waxell_observe_pydantic_ai import _instrument as pydantic_ai_instrument
print(json.dumps({
    "before": before,
    "after": after,
    "pydantic_ai": Agent._instrument_default is pydantic_ai_instrument._settings,
    "smolagents": [type(MultiStepAgent.__dict__["run"]).__name__, type(Tool.__dict__["__call__"]).__name__],
    "dspy": type(Settings.__dict__["get"]).__name__,
}))
"""


def test_frameworks_imported_after_init_are_instrumented_then(tmp_path: object) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROGRAM)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == dict.fromkeys(
        ["pydantic_ai", "smolagents", "dspy", "openai_agents"], "waiting"
    )
    assert result["after"] == dict.fromkeys(["pydantic_ai", "smolagents", "dspy", "openai_agents"], "active")
    assert result["pydantic_ai"] is True
    assert result["smolagents"] == ["FunctionWrapper", "FunctionWrapper"]
    assert result["dspy"] == "FunctionWrapper"
