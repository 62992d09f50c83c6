#!/usr/bin/env python3
"""A stand-in for the Claude Code CLI that the Claude Agent SDK drives (``ClaudeAgentOptions.cli_path``).

It speaks the CLI's side of the SDK's protocol, one JSON object a line: on stdin the SDK's
``control_request``s (``initialize``, ...), its ``control_response``s and the user's prompts
(``{"type": "user", ...}``); on stdout the ``system``/``init``, ``assistant``, ``user`` (tool results),
``stream_event`` (with ``--include-partial-messages``) and ``result`` messages, and its own
``control_request``s: the ``hook_callback`` of each ``PreToolUse`` hook the SDK registered in
``initialize``, then ``can_use_tool`` when the SDK asked for permission prompts over stdio.

What it answers comes from the JSON scenario named by ``FAKE_CLAUDE_SCENARIO`` (passed in
``ClaudeAgentOptions.env``)::

    {"session_id": "...", "model": "...", "turns": [
        {"steps": [{"assistant": {"id": "msg_1", "model": "...", "usage": {...},
                                  "final_usage": {...}, "stop_reason": "tool_use", "error": "...",
                                  "content": [{"type": "text", "text": "..."},
                                              {"type": "tool_use", "id": "toolu_1", "name": "Read",
                                               "input": {...}, "result": "...", "is_error": false,
                                               "steps": [...]}]},
                    "parent_tool_use_id": null},
                   ...],
         "result": {"subtype": "success", "is_error": false, "result": "...", "total_cost_usd": 0.01,
                    "usage": {...}, "num_turns": 1, "duration_ms": 900, "duration_api_ms": 800},
         "exit": null}]}

Each prompt plays the next turn. An assistant step is sent as the CLI sends it: one ``assistant``
message per content block, all carrying the step's ``usage``; with ``--include-partial-messages`` the
``message_start`` / ``content_block_*`` / ``message_delta`` (``final_usage``) / ``message_stop``
events come around them. Each ``tool_use`` block then goes through the hooks and the permission
callback; a tool that is not denied "runs" (a line ``{"ran": name, "input": ...}`` is appended to the
file named by ``FAKE_CLAUDE_LOG``) and its ``result`` comes back in a ``user`` message, after the
tool's own ``steps`` (a subagent's messages, sent with the tool's id as ``parent_tool_use_id``); a
denied one comes back as an error result carrying the denial's reason, and is listed in the result's
``permission_denials``. A turn with ``"exit": N`` stops the process with that code (after writing
to stderr) instead of sending a result. At the end of stdin the process exits 1 when the last result
was an error (as the CLI does), else 0.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections import deque
from typing import Any

CLI_VERSION = "2.1.337"


class Fake:
    def __init__(self, argv: list[str]) -> None:
        with open(os.environ["FAKE_CLAUDE_SCENARIO"], encoding="utf-8") as handle:
            self.scenario: dict[str, Any] = json.load(handle)
        self.turns: deque[dict[str, Any]] = deque(self.scenario["turns"])
        self.session_id = str(self.scenario.get("session_id", "fake-session"))
        self.argv = argv
        self.partial = "--include-partial-messages" in argv
        self.stdio_permissions = _flag(argv, "--permission-prompt-tool") == "stdio"
        self.allowed = set(filter(None, (_flag(argv, "--allowedTools") or "").split(",")))
        self.model = _flag(argv, "--model") or str(self.scenario.get("model", "claude-sonnet-4-5"))
        self.hooks: dict[str, list[dict[str, Any]]] = {}
        self.pending: deque[dict[str, Any]] = deque()
        self.requests = 0
        self.last_error = False
        self.log_path = os.environ.get("FAKE_CLAUDE_LOG", "")

    # -- the wire ------------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def read(self) -> dict[str, Any] | None:
        while True:
            line = sys.stdin.readline()
            if not line:
                return None
            if line.strip():
                message: dict[str, Any] = json.loads(line)
                return message

    def log(self, entry: dict[str, Any]) -> None:
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    def next_message(self) -> dict[str, Any] | None:
        """The next message the SDK sent that is not an answer to one of our requests."""
        if self.pending:
            return self.pending.popleft()
        while True:
            message = self.read()
            if message is None or message.get("type") != "control_request":
                return message
            self.answer_control(message)

    def answer_control(self, message: dict[str, Any]) -> None:
        request = message.get("request") or {}
        response: dict[str, Any] = {}
        if request.get("subtype") == "initialize":
            self.hooks = request.get("hooks") or {}
            response = {"commands": [], "output_style": "default", "models": []}
        self.log({"control": request.get("subtype")})
        self.send(
            {
                "type": "control_response",
                "response": {"subtype": "success", "request_id": message["request_id"], "response": response},
            }
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send a control request to the SDK and wait for its answer."""
        self.requests += 1
        request_id = f"cli_req_{self.requests}"
        self.send({"type": "control_request", "request_id": request_id, "request": request})
        while True:
            message = self.read()
            if message is None:
                sys.exit(2)
            if message.get("type") == "control_response":
                response = message.get("response") or {}
                if response.get("request_id") == request_id:
                    if response.get("subtype") == "error":
                        return {"error": response.get("error")}
                    answer: dict[str, Any] = response.get("response") or {}
                    return answer
            elif message.get("type") == "control_request":
                self.answer_control(message)
            else:
                self.pending.append(message)

    # -- a turn -----------------------------------------------------------------------------------

    def run(self) -> int:
        while True:
            message = self.next_message()
            if message is None:
                return 1 if self.last_error else 0
            if message.get("type") != "user":
                continue
            if not self.turns:
                sys.stderr.write("fake claude: no turn left in the scenario\n")
                return 3
            turn = self.turns.popleft()
            self.log({"prompt": message["message"]["content"]})
            code = self.play(turn)
            if code is not None:
                sys.stderr.write(f"fake claude: exiting with {code}\n")
                sys.stderr.flush()
                return code

    def play(self, turn: dict[str, Any]) -> int | None:
        self.send(
            {
                "type": "system",
                "subtype": "init",
                "session_id": self.session_id,
                "model": self.model,
                "tools": ["Read", "Bash", "Task"],
                "cwd": os.getcwd(),
                "permissionMode": _flag(self.argv, "--permission-mode") or "default",
                "claude_code_version": CLI_VERSION,
                "mcp_servers": [],
                "apiKeySource": "none",
                "uuid": str(uuid.uuid4()),
            }
        )
        denials: list[dict[str, Any]] = []
        for step in turn.get("steps", []):
            self.assistant(step["assistant"], step.get("parent_tool_use_id"), denials)
        if turn.get("exit") is not None:
            return int(turn["exit"])
        result = {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "duration_ms": 1000,
            "duration_api_ms": 800,
            "num_turns": 1,
            "session_id": self.session_id,
            "uuid": str(uuid.uuid4()),
            "permission_denials": denials,
            **turn["result"],
        }
        self.last_error = bool(result["is_error"])
        self.send(result)
        return None

    def assistant(self, step: dict[str, Any], parent: str | None, denials: list[dict[str, Any]]) -> None:
        model = step.get("model", self.model)
        message = {"id": step["id"], "type": "message", "role": "assistant", "model": model}
        if self.partial:
            start_usage = {**step.get("usage", {})}
            self.event(
                {"type": "message_start", "message": {**message, "content": [], "usage": start_usage}}, parent
            )
        for index, block in enumerate(step["content"]):
            wire = {key: value for key, value in block.items() if key not in ("result", "is_error")}
            if self.partial:
                self.event({"type": "content_block_start", "index": index, "content_block": wire}, parent)
                delta = (
                    {"type": "text_delta", "text": block["text"]}
                    if block["type"] == "text"
                    else {"type": "input_json_delta", "partial_json": json.dumps(block.get("input", {}))}
                )
                self.event({"type": "content_block_delta", "index": index, "delta": delta}, parent)
                self.event({"type": "content_block_stop", "index": index}, parent)
            sent: dict[str, Any] = {
                "type": "assistant",
                "message": {**message, "content": [wire], "stop_reason": None, "usage": step.get("usage")},
                "parent_tool_use_id": parent,
                "session_id": self.session_id,
                "uuid": str(uuid.uuid4()),
            }
            if step.get("error"):
                sent["error"] = step["error"]
            self.send(sent)
        if self.partial:
            self.event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": step.get("stop_reason", "end_turn")},
                    "usage": step.get("final_usage", step.get("usage", {})),
                },
                parent,
            )
            self.event({"type": "message_stop"}, parent)
        for block in step["content"]:
            if block["type"] == "tool_use":
                self.tool(block, parent, denials)

    def event(self, event: dict[str, Any], parent: str | None) -> None:
        self.send(
            {
                "type": "stream_event",
                "uuid": str(uuid.uuid4()),
                "session_id": self.session_id,
                "event": event,
                "parent_tool_use_id": parent,
            }
        )

    def tool(self, block: dict[str, Any], parent: str | None, denials: list[dict[str, Any]]) -> None:
        name, tool_input = block["name"], block.get("input", {})
        reason = self.pre_tool_use(block) or self.permission(block)
        if reason:
            denials.append({"tool_name": name, "tool_use_id": block["id"], "tool_input": tool_input})
            content, is_error = reason, True
        else:
            self.log({"ran": name, "input": tool_input})
            for step in block.get("steps", []):  # a subagent's own steps (the Task tool)
                self.assistant(step["assistant"], block["id"], denials)
            content, is_error = block.get("result", ""), bool(block.get("is_error", False))
        self.send(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": block["id"],
                            "content": content,
                            "is_error": is_error,
                        }
                    ],
                },
                "parent_tool_use_id": parent,
                "session_id": self.session_id,
                "uuid": str(uuid.uuid4()),
            }
        )

    def pre_tool_use(self, block: dict[str, Any]) -> str:
        """The ``PreToolUse`` hooks: the reason of the first that denies the tool, else ``""``."""
        for matcher in self.hooks.get("PreToolUse", []):
            pattern = matcher.get("matcher")
            if pattern not in (None, "", "*") and not re.fullmatch(pattern, block["name"]):
                continue
            for callback_id in matcher.get("hookCallbackIds", []):
                answer = self.ask(
                    {
                        "subtype": "hook_callback",
                        "callback_id": callback_id,
                        "input": {
                            "hook_event_name": "PreToolUse",
                            "session_id": self.session_id,
                            "transcript_path": "",
                            "cwd": os.getcwd(),
                            "tool_name": block["name"],
                            "tool_input": block.get("input", {}),
                            "tool_use_id": block["id"],
                        },
                        "tool_use_id": block["id"],
                    }
                )
                self.log({"hook": "PreToolUse", "tool": block["name"], "answer": answer})
                specific = answer.get("hookSpecificOutput") or {}
                if specific.get("permissionDecision") == "deny":
                    return str(specific.get("permissionDecisionReason") or "denied by a PreToolUse hook")
                if "updatedInput" in specific:
                    block["input"] = specific["updatedInput"]
        return ""

    def permission(self, block: dict[str, Any]) -> str:
        """``can_use_tool`` when the SDK takes permission prompts: the denial's message, else ``""``."""
        if not self.stdio_permissions or block["name"] in self.allowed:
            return ""
        answer = self.ask(
            {
                "subtype": "can_use_tool",
                "tool_name": block["name"],
                "input": block.get("input", {}),
                "permission_suggestions": [],
                "tool_use_id": block["id"],
            }
        )
        if answer.get("behavior") == "deny":
            return str(answer.get("message") or "denied")
        return ""


def _flag(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
    return None


if __name__ == "__main__":
    sys.exit(Fake(sys.argv[1:]).run())
