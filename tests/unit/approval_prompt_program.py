"""Run by test_prompt_approval_tty in a pseudo-terminal: make the pty this process's controlling
terminal (so Ctrl-C typed there interrupts it), ask ``prompt_approval`` about a block whose policy
names approvers and a timeout (argv[1] minutes; "none" for no timeout), print the decision.

Ctrl-C is made to reach it as it reaches a program started from a shell: SIGINT unblocked and handled by
Python. A process inherits an ignored or blocked SIGINT from whatever started it (a shell's background job
ignores it; ``multiprocessing`` blocks it in the thread that starts its resource tracker, for that moment),
and a test runner started that way made the Ctrl-C test wait forever for an answer the program never heard.
What it inherited is printed first, for the screen a failing test shows."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import signal
import sys
import termios

from waxell_observe.approval import prompt_approval
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult, PolicyEvaluation

inherited = (signal.getsignal(signal.SIGINT), signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
print(f"SIGINT as inherited: handler {inherited[0]!r}, blocked {inherited[1]}", flush=True)
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
fcntl.ioctl(sys.stdin.fileno(), termios.TIOCSCTTY, 0)
timeout = None if sys.argv[1] == "none" else float(sys.argv[1])
metadata = {"action_type": "wire_transfer", "approvers": ["cfo", "ops-lead"]}
if timeout is not None:
    metadata["timeout_minutes"] = timeout
evaluation = PolicyEvaluation(
    "big-transfers", "approval", "block", "over $10k", 0.0, metadata, "pre_execution"
)
error = PolicyViolationError(
    "Policy block: over $10k", PolicyCheckResult("block", reason="over $10k", evaluations=[evaluation])
)
print("READY", flush=True)
decision = prompt_approval(error)
print("RESULT " + json.dumps(dataclasses.asdict(decision)), flush=True)
