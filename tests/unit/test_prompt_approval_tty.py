"""``prompt_approval`` on a real terminal (issue 12): a program asks in a pseudo-terminal and the test
types into it — ``y``, ``yes``, ``n``, end of input (Ctrl-D), Ctrl-C, no answer within the policy's
timeout, a timeout that already elapsed — and reads the banner and the decision back."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PROGRAM = Path(__file__).with_name("approval_prompt_program.py")
QUESTION = "Approve this operation? [y/N]: "


class Terminal:
    """The program running with a pty as its terminal; ``screen`` is everything it printed."""

    def __init__(self, timeout_minutes: str, **extra_env: str) -> None:
        self.master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_") and k != "NO_COLOR"}
        env.update(extra_env)
        self.process = subprocess.Popen(
            [sys.executable, str(PROGRAM), timeout_minutes],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env=env,
        )
        os.close(slave)
        self.screen = ""

    def read_until(self, text: str, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared; screen: {self.screen!r}"
            poller = select.poll()  # not select(): a worker of a long suite may hold fds past 1024
            poller.register(self.master, select.POLLIN | select.POLLHUP)
            if poller.poll(left * 1000):
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the program exited and the pty closed
                    chunk = b""
                assert chunk, f"the terminal closed before {text!r}; screen: {self.screen!r}"
                self.screen += chunk.decode("utf-8", "replace")

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def decision(self) -> dict[str, Any]:
        self.read_until("RESULT ")
        self.read_until("\n", 10)
        line = self.screen.split("RESULT ", 1)[1].splitlines()[0]
        assert self.process.wait(timeout=30) == 0, self.screen
        os.close(self.master)
        return json.loads(line)  # type: ignore[no-any-return]


def _ask(timeout_minutes: str = "none", **extra_env: str) -> Terminal:
    terminal = Terminal(timeout_minutes, **extra_env)
    terminal.read_until(QUESTION)
    return terminal


def _without_elapsed(decision: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(decision["elapsed_seconds"], float) and decision["elapsed_seconds"] >= 0.0
    return {k: v for k, v in decision.items() if k != "elapsed_seconds"}


def _banner(screen: str) -> list[str]:
    lines = [line.rstrip() for line in screen.replace("\r", "").splitlines()]
    return lines[lines.index("READY") + 1 : lines.index("READY") + 8]


def test_the_banner_names_the_block_in_red() -> None:
    terminal = _ask("5")
    assert _banner(terminal.screen) == [
        "",
        "\x1b[31m\x1b[1m=== Blocked by approval policy ===\x1b[0m",
        "\x1b[31m  Reason:    Policy block: over $10k\x1b[0m",
        "  Operation: wire_transfer",
        "  Approvers: cfo, ops-lead",
        "  Timeout:   5 min",
        QUESTION.rstrip(),
    ]
    terminal.type(b"n\n")
    assert _without_elapsed(terminal.decision()) == {"approved": False, "approver": "", "timed_out": False}


def test_no_color_means_a_plain_banner() -> None:
    terminal = _ask(NO_COLOR="1")
    assert _banner(terminal.screen)[1:6] == [
        "=== Blocked by approval policy ===",
        "  Reason:    Policy block: over $10k",
        "  Operation: wire_transfer",
        "  Approvers: cfo, ops-lead",
        "  Timeout:   none",
    ]
    terminal.type(b"y\n")
    assert terminal.decision()["approved"] is True


@pytest.mark.parametrize("answer", [b"y\n", b"YES\n", b"  yes \n"])
def test_yes_approves(answer: bytes) -> None:
    terminal = _ask()
    terminal.type(answer)
    assert _without_elapsed(terminal.decision()) == {
        "approved": True,
        "approver": "interactive_user",
        "timed_out": False,
    }
    assert "Approved." in terminal.screen


@pytest.mark.parametrize("answer", [b"n\n", b"\n", b"sure\n"])
def test_anything_else_denies(answer: bytes) -> None:
    terminal = _ask()
    terminal.type(answer)
    assert _without_elapsed(terminal.decision()) == {"approved": False, "approver": "", "timed_out": False}
    assert "Denied." in terminal.screen


def test_end_of_input_denies() -> None:
    terminal = _ask()
    terminal.type(b"\x04")  # Ctrl-D at the start of a line: end of input
    assert _without_elapsed(terminal.decision()) == {"approved": False, "approver": "", "timed_out": False}
    assert "No answer (end of input): denied." in terminal.screen


def test_ctrl_c_denies_and_the_program_goes_on() -> None:
    terminal = _ask()
    terminal.type(b"\x03")  # Ctrl-C: SIGINT to the program
    assert _without_elapsed(terminal.decision()) == {"approved": False, "approver": "", "timed_out": False}
    assert "Interrupted: denied." in terminal.screen


def test_no_answer_within_the_timeout_times_out() -> None:
    terminal = _ask("0.01")  # 0.6 seconds
    decision = terminal.decision()
    assert _without_elapsed(decision) == {"approved": False, "approver": "", "timed_out": True}
    assert decision["elapsed_seconds"] >= 0.6
    assert "No answer in time: denied (timeout)." in terminal.screen


def test_an_elapsed_window_times_out_without_asking() -> None:
    terminal = Terminal("0")
    decision = terminal.decision()
    assert _without_elapsed(decision) == {"approved": False, "approver": "", "timed_out": True}
    assert QUESTION not in terminal.screen
    assert "Approval window already elapsed: denied (timeout)." in terminal.screen
