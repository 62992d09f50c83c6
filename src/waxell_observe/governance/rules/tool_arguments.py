"""``tool-argument-schema`` and ``agent-service-account-scope``: what a tool call may carry, and who may
make it.

* tool-argument-schema (``tool.before``): the signal's ``tool_args`` checked against ``schemas[tool_name]``
  (tool names in any case) — a JSON Schema, checked with the ``jsonschema`` package when it is installed,
  else with our subset (type, required, properties, additionalProperties, items, enum, minimum, maximum,
  minLength, maxLength). A tool without a schema is refused under ``require_schema_for_all_tools``. The
  older shape: ``schema`` for the tools without their own, ``required`` / ``required_keys`` that must be
  present and ``forbidden_keys`` that must not.
* agent-service-account-scope (pre-execution, ``tool.before``): the service account's scopes — the
  signal's ``service_account_scopes``, else the run metadata's — must include every ``required_scopes``
  entry. An operation (the signal's ``operation`` or ``tool_name``) in ``restricted_operations``, or a
  workflow (``workflow_type`` or the run's workflow) in ``restricted_workflow_types``, also needs the
  scopes to be declared at all; other calls that declare no scopes pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..json_schema import compile_validator
from ..models import AgentServiceAccountScopePolicy, ToolArgumentSchemaPolicy
from ..request import PolicyRequest
from .base import ALLOW, EvalContext, Outcome
from .gate import GateEvaluator, Names, norm, signal_name

__all__ = ["AgentServiceAccountScopeEvaluator", "ToolArgumentSchemaEvaluator"]

log = logging.getLogger("waxell_observe.governance")

Validator = Callable[[Any], list[str]]


class ToolArgumentSchemaEvaluator(GateEvaluator):
    category = "tool-argument-schema"

    def __init__(self, policy: ToolArgumentSchemaPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.schemas: dict[str, Validator] = {norm(k): compile_validator(v) for k, v in r.schemas.items()}
        self.default: Validator | None = compile_validator(r.schema_) if r.schema_ is not None else None
        self.require_all = r.require_schema_for_all_tools
        self.required = tuple(dict.fromkeys([*r.required, *r.required_keys]))
        self.forbidden = tuple(r.forbidden_keys)

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        signal = request.signal
        tool = signal_name(signal, "tool_name") if signal else ""
        if not tool:
            return ALLOW
        raw = signal.get("tool_args")
        args: Any = {} if raw is None else raw
        if self.required or self.forbidden:
            keys = args if isinstance(args, Mapping) else {}
            missing = [k for k in self.required if k not in keys]
            if missing:
                return self.violation(
                    f"Tool {tool!r} is missing required argument(s): {', '.join(missing)}",
                    "required_keys",
                    tool_name=tool,
                    missing=missing,
                )
            present = [k for k in self.forbidden if k in keys]
            if present:
                return self.violation(
                    f"Tool {tool!r} was given forbidden argument(s): {', '.join(present)}",
                    "forbidden_keys",
                    tool_name=tool,
                    forbidden=present,
                )
        validator = self.schemas.get(tool, self.default)
        if validator is None:
            if self.require_all:
                return self.violation(
                    f"Tool {tool!r} has no argument schema", "require_schema_for_all_tools", tool_name=tool
                )
            return ALLOW
        try:
            errors = validator(args)
        except Exception:  # an unusable schema allows, as the rule says; logged so it gets fixed
            log.warning(
                "policy %r: the argument schema of tool %r could not be used", self.name, tool, exc_info=True
            )
            return ALLOW
        if not errors:
            return ALLOW
        return self.violation(
            f"Arguments of tool {tool!r} do not match its schema: {'; '.join(errors[:5])}",
            "schemas",
            tool_name=tool,
            errors=errors[:20],
        )


def _scopes(value: Any) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {norm(s) for s in value.replace(",", " ").split() if norm(s)}
    if isinstance(value, (list, tuple, set, frozenset)):
        return {norm(s) for s in value if norm(s)}
    return None


class AgentServiceAccountScopeEvaluator(GateEvaluator):
    category = "agent-service-account-scope"

    def __init__(self, policy: AgentServiceAccountScopePolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.required = tuple(r.required_scopes)
        self.operations = Names(r.restricted_operations)
        self.workflows = Names(r.restricted_workflow_types)

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        signal = request.signal
        held = _scopes(signal.get("service_account_scopes")) if signal else None
        if held is None:
            held = _scopes(request.metadata.get("service_account_scopes")) if request.metadata else None
        restricted = self._restricted(request)
        if held is None:
            if restricted:
                return self.violation(
                    f"{restricted} is restricted: the service account's scopes must be declared"
                    + (f" (required: {', '.join(self.required)})" if self.required else ""),
                    "restricted_operations"
                    if restricted.startswith("Operation")
                    else "restricted_workflow_types",
                )
            return ALLOW
        missing = [s for s in self.required if s not in held]
        if missing:
            return self.violation(
                f"Service account is missing scope(s): {', '.join(missing)}",
                "required_scopes",
                missing=missing,
            )
        return ALLOW

    def _restricted(self, request: PolicyRequest) -> str:
        signal = request.signal
        if self.operations:
            operation = signal_name(signal, "operation", "tool_name") if signal else ""
            if operation and self.operations.match(operation) is not None:
                return f"Operation {operation!r}"
        if self.workflows:
            workflow = (signal_name(signal, "workflow_type") if signal else "") or norm(request.workflow_name)
            if workflow and self.workflows.match(workflow) is not None:
                return f"Workflow {workflow!r}"
        return ""
