"""The client's governance methods: policy checks and manifests, decisions, events, prompt guard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from waxell_observe.client import builders, transport
from waxell_observe.client.base import ClientBase
from waxell_observe.client.loop import run_sync
from waxell_observe.governance.results import PolicyCheckResult

__all__ = ["GovernanceMethods"]

GATE_TIMEOUT = 2.0
GUARD_GATE_TIMEOUT = 3.0


def policy_result(reply: Mapping[str, Any]) -> PolicyCheckResult:
    """A ``policy-check/`` reply as a result; ``redacted_inputs`` moves out of ``metadata``."""
    result = PolicyCheckResult.from_dict(reply)
    redacted = result.metadata.pop("redacted_inputs", None)
    result.redacted_inputs = dict(redacted) if isinstance(redacted, Mapping) else None
    return result


class GovernanceMethods(ClientBase):
    async def check_policy(
        self,
        agent_name: str,
        workflow_name: str = "",
        agent_id: str = "",
        inputs: Mapping[str, Any] | None = None,
        user_id: str = "",
        user_group: str = "",
        agent_type: str = "",
        delegation: Mapping[str, Any] | None = None,
    ) -> PolicyCheckResult:
        """POST ``policy-check/``: may a run of ``agent_name`` start? (``allow`` when no answer came.)"""
        reply = await self._call(
            builders.policy_check(
                agent_name=agent_name,
                workflow_name=workflow_name,
                agent_id=agent_id,
                inputs=inputs,
                user_id=user_id,
                user_group=user_group,
                agent_type=agent_type,
                delegation=delegation,
                metadata=builders.region_metadata(),
            )
        )
        return policy_result(reply)

    def check_policy_sync(self, **kwargs: Any) -> PolicyCheckResult:
        """Blocking :meth:`check_policy` (keyword arguments only)."""
        return run_sync(self.check_policy(**kwargs))

    def check_policy_surface_sync(
        self,
        agent_name: str,
        workflow_name: str = "",
        user_group: str = "",
        *,
        surface: str,
        signal: Mapping[str, Any] | None = None,
        categories: Sequence[str] | None = None,
        policies: Sequence[str] | None = None,
        workflow_id: str = "",
    ) -> dict[str, Any]:
        """POST ``policy-check/`` as a gate check at ``surface``: one attempt, ``WAXELL_GATE_TIMEOUT``
        seconds (default 2). Returns the raw reply; raises ``RuntimeError`` when the client is not
        configured and ``ControlPlaneError`` when no usable answer came (the caller decides)."""
        if not self.config.api_url:
            raise RuntimeError("WaxellObserveClient is not configured (no api_url)")
        req = builders.surface_check(
            agent_name=agent_name,
            workflow_name=workflow_name,
            user_group=user_group,
            surface=surface,
            signal=signal,
            categories=categories,
            policies=policies,
            workflow_id=workflow_id,
        )
        return self.send_sync(req, timeout=transport.gate_timeout("WAXELL_GATE_TIMEOUT", GATE_TIMEOUT))

    async def get_policy_manifest(
        self, agent_name: str, workflow_name: str = "", agent_id: str = "", user_group: str = ""
    ) -> dict[str, Any]:
        """GET ``policy-manifest/``: the policies that apply to the agent, by surface (raw reply)."""
        return await self._call(
            builders.policy_manifest(
                agent_name=agent_name, workflow_name=workflow_name, agent_id=agent_id, user_group=user_group
            )
        )

    def get_policy_manifest_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`get_policy_manifest` (keyword arguments only)."""
        return run_sync(self.get_policy_manifest(**kwargs))

    async def record_governance_decisions(
        self,
        agent_name: str,
        surface: str,
        decisions: Sequence[Mapping[str, Any]],
        workflow_id: str = "",
        span_only: bool = False,
    ) -> dict[str, Any]:
        """POST ``governance-decision/``: report the non-allow decisions of a gate (raw reply,
        whose ``run_found`` says whether the run is known yet)."""
        return await self._call(
            builders.governance_decisions(
                agent_name=agent_name,
                surface=surface,
                decisions=decisions,
                workflow_id=workflow_id,
                span_only=span_only,
            )
        )

    def record_governance_decisions_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`record_governance_decisions` (keyword arguments only)."""
        return run_sync(self.record_governance_decisions(**kwargs))

    async def record_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """POST ``events/``: audit-trail events (nothing is sent for none)."""
        if events:
            await self._call(builders.events(events=events))

    def record_events_sync(self, **kwargs: Any) -> None:
        """Blocking :meth:`record_events` (keyword arguments only)."""
        run_sync(self.record_events(**kwargs))

    async def prompt_guard(self, text: str, agent_name: str = "", model: str = "") -> dict[str, Any]:
        """POST ``prompt-guard/``: the server's scan of ``text`` (``action``, ``violations``,
        ``redacted_text``, ``scan_time_ms``), or ``{}`` when none came."""
        return await self._call(builders.prompt_guard(text=text, agent_name=agent_name, model=model))

    def prompt_guard_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`prompt_guard` (keyword arguments only)."""
        return run_sync(self.prompt_guard(**kwargs))

    def prompt_guard_gate_sync(self, text: str, model: str = "") -> dict[str, Any]:
        """POST ``prompt-guard/`` once within ``WAXELL_GUARD_GATE_TIMEOUT`` seconds (default 3).
        Raises ``RuntimeError`` when not configured, ``ControlPlaneError`` when no usable answer came."""
        if not self.config.api_url:
            raise RuntimeError("WaxellObserveClient is not configured (no api_url)")
        timeout = transport.gate_timeout("WAXELL_GUARD_GATE_TIMEOUT", GUARD_GATE_TIMEOUT)
        return self.send_sync(builders.prompt_guard(text=text, model=model), timeout=timeout)
