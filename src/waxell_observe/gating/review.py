"""Code review before code runs (spec §2.5 ``record_code_execution``): when a ``code-execution`` policy
asks for review (its rules' ``require_review``, or an evaluation's ``metadata.require_review``) and the
run has an ``on_policy_block`` handler (the context's, an enclosing one's, or ``init``'s), the handler is
asked with a synthetic block (``metadata``: ``action_type="code_execution"``, ``language``; the reason
names the language and shows the first 1,000 characters of the code). The round is recorded like any
approval (request, human turn, response); a denial raises
``PolicyViolationError("Code execution denied by reviewer (<language>)")`` and the code must not run."""

from __future__ import annotations

import logging
from typing import Any

from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult

from .outcome import GateOutcome

__all__ = ["review_code", "review_required"]

logger = logging.getLogger("waxell_observe")

_CATEGORY = "code-execution"
_CODE_CHARS = 1000


def _rules_ask(ctx: Any) -> bool:
    from .evaluate import _policies_at
    from .identity import resolve

    identity = resolve(ctx)
    if identity is None:
        return False
    for policy in _policies_at(identity, "code.exec"):
        rules = policy.get("rules")
        if policy.get("category") == _CATEGORY and isinstance(rules, dict) and rules.get("require_review"):
            return True
    return False


def review_required(ctx: Any, outcome: GateOutcome) -> bool:
    """True when a ``code-execution`` policy covering the run asks for review."""
    result = outcome.result
    if result is not None and any(
        e.category == _CATEGORY and e.metadata.get("require_review") for e in result.evaluations
    ):
        return True
    run = getattr(ctx, "_run", None)
    if run is not None and any(
        e.category == _CATEGORY and e.metadata.get("require_review") for e in run.policy_evaluations
    ):
        return True
    return _rules_ask(ctx)


def review_code(ctx: Any, outcome: GateOutcome, language: str, code: str) -> None:
    """Ask the run's ``on_policy_block`` handler to review ``code`` when a policy requires it (see module)."""
    if ctx is None or getattr(ctx, "_run", None) is None or not ctx.enforce_policy:
        return
    from waxell_observe.context.entry_approval import handler_for

    asked = handler_for(ctx)
    if asked is None or not review_required(ctx, outcome):
        return
    from waxell_observe.approval import ask_sync

    reason = f"Code execution requires review ({language}):\n{code[:_CODE_CHARS]}"
    metadata: dict[str, Any] = {"action_type": "code_execution", "language": language}
    error = PolicyViolationError(reason, PolicyCheckResult("block", reason, metadata))
    run = ctx._run
    error.run_id, error.agent_name, error.workflow_name = run.run_id, run.agent_name, run.workflow_name
    decision = ask_sync(asked[0], error, ctx)
    if not decision.approved:
        denied = PolicyViolationError(f"Code execution denied by reviewer ({language})", error.policy_result)
        denied.run_id, denied.agent_name, denied.workflow_name = (
            error.run_id,
            error.agent_name,
            error.workflow_name,
        )
        raise denied
