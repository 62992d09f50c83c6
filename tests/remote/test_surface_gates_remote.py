"""The surface gates in remote mode: the manifest from the control plane (cached per identity for its TTL,
failures remembered by the negative cache; exact request counts at a stub control plane), in-process
evaluation of hybrid policies and one batched ``policy-check/`` for server ones, fail-open and fail-closed
against a hung or down control plane, decisions reported, gate time delivered with the run; and the real
server end to end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from remote_stubs import HungServer, ProtocolStub, Reply, Seen, free_port

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient, gate_memory_delete, gate_tool
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import evaluate_surface, forget
from waxell_observe.gating import manifest as manifest_module
from waxell_observe.gating.report import wait_for_reports
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store
from waxell_observe.vocabulary.gates import GATE_TIME_METADATA_KEY

AGENT = "gate-remote"


class Clock:
    """``time.monotonic`` of the manifest cache, moved by hand."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _fresh_gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("WAXELL_SURFACE_GATE", "WAXELL_GATE_FAIL_CLOSED", "WAXELL_MANIFEST_TTL",
                 "WAXELL_MANIFEST_NEGATIVE_TTL", "WAXELL_GATE_CACHE_TTL", "WAXELL_WORKFLOW"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WAXELL_AGENT_NAME", AGENT)
    forget()
    yield
    wait_for_reports(5)
    forget()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(manifest_module, "time", fake)
    return fake


def manifest(*entries: tuple[str, str, str, str, dict[str, Any]], ttl: int = 60) -> dict[str, Any]:
    """A manifest of ``(surface, policy, category, eval, rules)`` entries."""
    surfaces: dict[str, list[dict[str, str]]] = {}
    policies: dict[str, dict[str, Any]] = {}
    for surface, policy, category, mode, rules in entries:
        surfaces.setdefault(surface, []).append({"policy": policy, "category": category, "eval": mode})
        policies[policy] = {"name": policy, "policy_id": policy, "category": category, "rules": rules}
    return {
        "manifest_version": "7",
        "ttl_seconds": ttl,
        "checkpoints": list(surfaces),
        "surfaces": surfaces,
        "policies": list(policies.values()),
    }


def serve(stub: ProtocolStub, body: dict[str, Any], verdict: dict[str, Any] | None = None) -> None:
    """Answer ``policy-manifest/`` with ``body`` and surface checks with ``verdict`` (default allow)."""

    def rule(seen: Seen) -> Reply | None:
        if seen.path == "policy-manifest/":
            return Reply(body=body)
        if seen.path == "policy-check/" and isinstance(seen.body, dict) and "surface" in seen.body:
            return Reply(body=verdict or {"action": "allow", "reason": "", "metadata": {}, "evaluations": []})
        return None

    stub.rules.append(rule)


def count(stub: ProtocolStub, path: str) -> int:
    return len(stub.requests(path))


APPROVAL_AT_TOOLS = ("tool.before", "needs-approval", "approval", "server", {})


# -- the manifest cache ------------------------------------------------------------------------------------


def test_one_manifest_request_per_ttl(remote: ProtocolStub, clock: Clock) -> None:
    serve(remote, manifest(APPROVAL_AT_TOOLS))
    for _ in range(3):
        assert gate_tool("search", {"q": 1}) == {"q": 1}
    assert count(remote, "policy-manifest/") == 1
    assert count(remote, "policy-check/") == 3  # approval verdicts are never reused
    assert remote.requests("policy-manifest/")[0].query == f"agent_name={AGENT}"
    clock.advance(59)
    gate_tool("search")
    assert count(remote, "policy-manifest/") == 1
    clock.advance(2)  # past the manifest's ttl_seconds (60)
    gate_tool("search")
    assert count(remote, "policy-manifest/") == 2


def test_manifest_ttl_from_the_environment_is_clamped(
    remote: ProtocolStub, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_MANIFEST_TTL", "1")  # clamped to 5 s
    serve(remote, manifest(APPROVAL_AT_TOOLS, ttl=600))
    gate_tool("a")
    clock.advance(4.9)
    gate_tool("a")
    assert count(remote, "policy-manifest/") == 1
    clock.advance(0.2)
    gate_tool("a")
    assert count(remote, "policy-manifest/") == 2


def test_manifests_are_kept_per_identity(remote: ProtocolStub, clock: Clock) -> None:
    serve(remote, manifest(APPROVAL_AT_TOOLS))
    gate_tool("a")
    with WaxellContext(agent_name="other-agent", workflow_name="wf", user_group="ops", enforce_policy=False):
        pass  # enforce_policy off: its gates are not asked
    with WaxellContext(agent_name="other-agent", workflow_name="wf", user_group="ops"):
        gate_tool("a")
        gate_tool("b")
    queries = sorted(s.query for s in remote.requests("policy-manifest/"))
    assert queries == [f"agent_name={AGENT}", "agent_name=other-agent&workflow_name=wf&user_group=ops"]
    # the two runs are delivered while the stub still listens (the store fixture's flush comes after
    # the stub's teardown: a delivery then meets a closed port and counts as a delivery error)
    assert waxell_observe.flush_sync(timeout=10).sinks["remote"].pending == 0


def test_a_failed_manifest_is_remembered_for_the_negative_ttl(remote: ProtocolStub, clock: Clock) -> None:
    remote.fail(500, path="policy-manifest/")
    assert gate_tool("rm_rf", {"x": 1}) == {"x": 1}  # fail-open
    assert gate_tool("rm_rf") is None
    assert count(remote, "policy-manifest/") == 1
    clock.advance(29)
    gate_tool("rm_rf")
    assert count(remote, "policy-manifest/") == 1
    clock.advance(2)  # past the default 30 s
    gate_tool("rm_rf")
    assert count(remote, "policy-manifest/") == 2
    assert count(remote, "policy-check/") == 0


def test_negative_ttl_from_the_environment(
    remote: ProtocolStub, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_MANIFEST_NEGATIVE_TTL", "5")
    remote.fail(503, path="policy-manifest/")
    gate_tool("a")
    clock.advance(4)
    gate_tool("a")
    clock.advance(2)
    gate_tool("a")
    assert count(remote, "policy-manifest/") == 2


# -- evaluation: in process and batched ---------------------------------------------------------------------


def test_hybrid_policies_run_in_process_and_server_ones_in_one_batched_call(remote: ProtocolStub) -> None:
    verdict = {
        "action": "block",
        "reason": "needs a human",
        "metadata": {},
        "evaluations": [
            {"policy_name": "needs-approval", "category": "approval", "action": "block",
             "reason": "needs a human", "duration_ms": 0.1, "metadata": {}},
            {"policy_name": "tenant", "category": "tenant-isolation-agent", "action": "allow", "reason": "",
             "duration_ms": 0.1, "metadata": {}},
        ],
    }  # fmt: skip
    serve(
        remote,
        manifest(
            ("tool.before", "tools", "tool-allowlist", "hybrid", {"blocked_tools": ["rm_rf"]}),
            ("tool.before", "needs-approval", "approval", "server", {}),
            ("tool.before", "tenant", "tenant-isolation-agent", "server", {}),
            ("tool.after", "tools-after", "approval", "server", {}),
        ),
        verdict,
    )
    with pytest.raises(PolicyViolationError) as refused:
        gate_tool("search", {"q": "cats"})
    assert str(refused.value) == "needs a human"
    checks = remote.requests("policy-check/")
    assert len(checks) == 1
    body = checks[0].body
    assert (body["agent_name"], body["surface"], body["categories"], body["policies"]) == (
        AGENT, "tool.before", ["approval", "tenant-isolation-agent"], ["needs-approval", "tenant"]
    )  # fmt: skip
    assert body["signal"] == {"tool_name": "search", "tool_args": {"q": "cats"}}
    wait_for_reports(5)
    decisions = remote.requests("governance-decision/")
    assert [d.body for d in decisions] == [
        {"agent_name": AGENT, "workflow_id": "", "surface": "tool.before", "span_only": False,
         "decisions": [{"category": "approval", "policy": "needs-approval", "action": "block",
                        "reason": "needs a human"}]},
    ]  # fmt: skip


def test_a_hybrid_policy_refuses_without_asking_the_server(remote: ProtocolStub) -> None:
    serve(
        remote, manifest(("tool.before", "tools", "tool-allowlist", "hybrid", {"blocked_tools": ["rm_rf"]}))
    )
    assert gate_tool("ls") is None
    with pytest.raises(PolicyViolationError, match="rm_rf"):
        gate_tool("rm_rf")
    assert count(remote, "policy-check/") == 0


def test_a_server_verdict_is_reused_for_the_same_question(remote: ProtocolStub) -> None:
    serve(remote, manifest(("memory.delete", "keep-facts", "memory-guard", "server", {})))
    assert gate_memory_delete(ids=["a"], store="facts").action == "allow"
    assert gate_memory_delete(ids=["a"], store="facts").action == "allow"
    assert gate_memory_delete(ids=["b"], store="facts").action == "allow"
    assert count(remote, "policy-check/") == 2  # the same signal within WAXELL_GATE_CACHE_TTL: one call


def test_memory_delete_block_from_the_server(remote: ProtocolStub) -> None:
    serve(
        remote,
        manifest(("memory.delete", "keep-facts", "memory-guard", "server", {})),
        {"action": "block", "reason": "", "metadata": {}, "evaluations": []},
    )
    with pytest.raises(PolicyViolationError) as refused:
        gate_memory_delete(query="everything", store="facts")
    assert str(refused.value) == "Blocked by memory.delete policy (store=facts)"


def test_inside_a_run_decisions_are_policy_spans_and_gate_time_travels(remote: ProtocolStub) -> None:
    serve(
        remote,
        manifest(("tool.before", "tools", "tool-allowlist", "hybrid", {"blocked_tools": ["rm_rf"],
                                                                         "action": "warn"})),
    )  # fmt: skip
    with WaxellContext(agent_name=AGENT) as ctx:
        gate_tool("ls")
        gate_tool("rm_rf")
        assert [f["policy"] for f in ctx.take_feedback()] == ["tools"]
    waxell_observe.flush_sync(timeout=30)
    spans = [s for s in remote.records(ctx.run_id, "spans") if s["kind"] == "governance"]
    assert [(s["name"], s["attributes"]["metadata"]["surface"]) for s in spans] == [("tools", "tool.before")]
    metadata = remote.runs[ctx.run_id]["complete"]["metadata"]
    assert metadata[GATE_TIME_METADATA_KEY]["gate_calls"] == 2
    assert metadata[GATE_TIME_METADATA_KEY]["surfaces"]["tool.before"]["calls"] == 2
    assert count(remote, "governance-decision/") == 0


# -- fail-open and fail-closed ---------------------------------------------------------------------------


def test_a_hung_control_plane_fails_open_unless_told_to_fail_closed(
    hung: HungServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    WaxellObserveClient.configure(api_url=hung.url, api_key="")
    monkeypatch.setenv("WAXELL_GATE_TIMEOUT", "0.3")
    assert gate_tool("rm_rf", {"x": 1}) == {"x": 1}
    monkeypatch.setenv("WAXELL_SURFACE_GATE", "closed")
    with pytest.raises(PolicyViolationError, match="governance unavailable at tool.before"):
        gate_tool("rm_rf")
    assert evaluate_surface("tool.after", {"tool_name": "x"}).action == "allow"  # detective: still open
    monkeypatch.setenv("WAXELL_SURFACE_GATE", "on")
    monkeypatch.setenv("WAXELL_GATE_FAIL_CLOSED", "1")
    with pytest.raises(PolicyViolationError, match="fail-closed"):
        gate_memory_delete(ids=["a"])
    assert hung.accepted == 1  # the failure is remembered: one attempt only


def test_a_down_control_plane_fails_closed_on_preventive_surfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    WaxellObserveClient.configure(api_url=f"http://127.0.0.1:{free_port()}", api_key="")
    monkeypatch.setenv("WAXELL_GATE_FAIL_CLOSED", "true")
    with pytest.raises(PolicyViolationError, match="governance unavailable at tool.before"):
        gate_tool("x")
    outcome = evaluate_surface("network.before", {"url": "https://x.example"})
    assert (outcome.action, outcome.surface) == ("block", "network.before")
    assert evaluate_surface("memory.read", {"query": "q"}).action == "allow"


def test_a_failing_surface_check_fails_closed_with_a_manifest(
    remote: ProtocolStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote.fail(500, path="policy-check/")  # tried before the manifest's rule
    serve(remote, manifest(APPROVAL_AT_TOOLS))
    assert gate_tool("a") is None  # fail-open
    monkeypatch.setenv("WAXELL_SURFACE_GATE", "strict")
    with pytest.raises(PolicyViolationError, match="governance unavailable"):
        gate_tool("a")


# -- the real server ----------------------------------------------------------------------------------------


def test_real_server_manifest_and_hybrid_evaluation(shared_server: Any) -> None:
    add_policies(
        get_store(shared_server.db if "://" in shared_server.db else f"sqlite:///{shared_server.db}"),
        load_policies("""
policies:
  - name: real-tools
    category: tool-allowlist
    scope: {agents: [gate-real]}
    rules: {blocked_tools: [rm_rf]}
"""),
    )
    WaxellObserveClient.configure(api_url=shared_server.url, api_key="")
    deadline = time.monotonic() + 10
    with WaxellContext(agent_name="gate-real") as ctx:
        while True:  # the server reads the policies version at most once a second
            forget()
            if evaluate_surface("tool.before", {"tool_name": "rm_rf"}).is_block:
                break
            assert time.monotonic() < deadline, "the server never listed the policy"
            time.sleep(0.2)
        assert gate_tool("ls", {"a": 1}) == {"a": 1}
        with pytest.raises(PolicyViolationError) as refused:
            gate_tool("rm_rf")
        assert str(refused.value) == "Tool 'rm_rf' is blocked"
    waxell_observe.flush_sync(timeout=30)
    run = shared_server.read_run(ctx.run_id)
    assert run["status"] == "blocked"
    policy = [s for s in run["spans"] if s["kind"] == "policy"]
    assert [(s["name"], s["attributes"]["action"]) for s in policy] == [("real-tools", "block")] * 2
    assert run["metadata"][GATE_TIME_METADATA_KEY]["surfaces"]["tool.before"]["calls"] >= 3


def test_run_error_is_asked_when_the_body_raises(remote: ProtocolStub) -> None:
    serve(
        remote,
        manifest(("run.error", "incidents", "audit", "server", {})),
        {"action": "warn", "reason": "incident opened", "metadata": {},
         "evaluations": [{"policy_name": "incidents", "category": "audit", "action": "warn",
                          "reason": "incident opened", "duration_ms": 0.2, "metadata": {}}]},
    )  # fmt: skip
    with pytest.raises(ZeroDivisionError), WaxellContext(agent_name=AGENT) as ctx:
        _ = 1 / 0
    waxell_observe.flush_sync(timeout=30)
    [check] = [s.body for s in remote.requests("policy-check/") if "surface" in s.body]
    assert (check["surface"], check["signal"]["error_type"]) == ("run.error", "ZeroDivisionError")
    spans = [s for s in remote.records(ctx.run_id, "spans") if s["kind"] == "governance"]
    assert [
        (s["name"], s["attributes"]["action"], s["attributes"]["metadata"]["surface"]) for s in spans
    ] == [("incidents", "warn", "run.error")]
    assert remote.runs[ctx.run_id]["complete"]["status"] == "error"
