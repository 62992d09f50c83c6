"""``waxell-observe policies``: add, list, remove and dry-run governance policies.

Works on the store named by ``--db`` (else ``WAXELL_DB``, else ``~/.waxell/observe.db``), or on a running
control plane with ``--api-url`` (its ``/api/v1/admin/policies/`` endpoints).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from waxell_observe.cli._api import api_call, api_options
from waxell_observe.cli._store import db_option, open_store
from waxell_observe.vocabulary import GATE_SURFACES

__all__ = ["command"]

_PHASES = {"pre": "pre_execution", "mid": "mid_execution", "post": "post_execution"}


@click.group("policies")
def command() -> None:
    """Manage governance policies (budgets, rate limits, content rules, ...)."""


def _load_file(path: str) -> list[Any]:
    """The file's policies, validated; a bad file is rejected whole with the loader's message."""
    from waxell_observe.governance.loader import PolicyFileError, load_policies

    try:
        return load_policies(Path(path))
    except PolicyFileError as exc:
        raise click.ClickException(str(exc)) from None


def _names(names: list[str]) -> str:
    return ", ".join(names)


@command.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@db_option
@api_options
def add(file: str, db: str | None, api_url: str, api_key: str) -> None:
    """Add the policies of FILE (YAML or JSON); a policy with an existing name replaces it.

    Nothing is added unless the whole file is valid."""
    policies = _load_file(file)
    if not policies:
        raise click.ClickException(f"{file} holds no policies")
    if api_url:
        reply = api_call(
            api_url,
            api_key,
            "POST",
            "/api/v1/admin/policies/",
            json={"policies": [p.to_dict() for p in policies]},
        )
        added, replaced = list(reply.get("added", [])), list(reply.get("replaced", []))
    else:
        from waxell_observe.governance.policy_store import add_policies, policy_rows

        store = open_store(db)
        with store.read() as conn:
            existing = {row["name"] for row in policy_rows(conn)}
        names = add_policies(store, policies)
        added = [n for n in names if n not in existing]
        replaced = [n for n in names if n in existing]
    parts = []
    if added:
        parts.append(f"added {len(added)} polic{'y' if len(added) == 1 else 'ies'}: {_names(added)}")
    if replaced:
        parts.append(f"replaced {len(replaced)}: {_names(replaced)}")
    click.echo("; ".join(parts))


def _stored(db: str | None, api_url: str, api_key: str) -> list[dict[str, Any]]:
    if api_url:
        return list(api_call(api_url, api_key, "GET", "/api/v1/read/policies/").get("policies", []))
    from waxell_observe.governance.policy_store import policy_rows

    with open_store(db).read() as conn:
        return [row["definition"] for row in policy_rows(conn)]


def _scope_text(scope: dict[str, Any]) -> str:
    parts = []
    for key in ("agents", "workflows", "user_groups"):
        globs = scope.get(key) or ["*"]
        if globs != ["*"]:
            parts.append(f"{key}={','.join(globs)}")
    return " ".join(parts) or "*"


@command.command("list")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the policies as JSON (loadable with `policies add`)."
)
@db_option
@api_options
def list_(as_json: bool, db: str | None, api_url: str, api_key: str) -> None:
    """List the stored policies in the order they were added."""
    policies = _stored(db, api_url, api_key)
    if as_json:
        click.echo(json.dumps({"policies": policies}, indent=2, ensure_ascii=False))
        return
    if not policies:
        click.echo("no policies (add some with `waxell-observe policies add FILE.yaml`)")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(policies)} polic{'y' if len(policies) == 1 else 'ies'}", title_justify="left")
    for header in ("name", "category", "priority", "enabled", "scope"):
        table.add_column(header, no_wrap=True)
    table.add_column("rules", overflow="fold")
    for p in policies:
        rules = {k: v for k, v in (p.get("rules") or {}).items() if v not in (None, [], {})}
        table.add_row(
            p["name"],
            p["category"],
            str(p.get("priority", 100)),
            "yes" if p.get("enabled", True) else "no",
            _scope_text(p.get("scope") or {}),
            json.dumps(rules, ensure_ascii=False, separators=(",", ":")),
        )
    Console(highlight=False, soft_wrap=False, width=160).print(table)


@command.command("remove")
@click.argument("names", nargs=-1, required=True)
@db_option
@api_options
def remove(names: tuple[str, ...], db: str | None, api_url: str, api_key: str) -> None:
    """Remove the policies NAMES (all or nothing: an unknown name removes none)."""
    if api_url:
        known = {p["name"] for p in _stored(db, api_url, api_key)}
        missing = [n for n in names if n not in known]
        if missing:
            raise click.ClickException(f"no policy named {missing[0]!r}")
        for name in names:
            api_call(api_url, api_key, "DELETE", f"/api/v1/admin/policies/{_quote(name)}/")
    else:
        from waxell_observe.governance.policy_store import PolicyNotFound, remove_policies

        try:
            remove_policies(open_store(db), names)
        except PolicyNotFound as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"removed {_names(list(names))}")


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _json_object(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"not valid JSON: {exc.msg} (column {exc.colno})", param_hint=option
        ) from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"must be a JSON object, got {type(data).__name__}", param_hint=option)
    return data


@command.command("test")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--agent", required=True, help="Agent name of the simulated run.")
@click.option("--workflow", default="default", show_default=True, help="Workflow name.")
@click.option("--user-group", default="", help="User group (for scopes and authorization policies).")
@click.option("--user-id", default="", help="End-user id.")
@click.option("--inputs", default=None, metavar="JSON", help="Run inputs, a JSON object.")
@click.option(
    "--phase",
    type=click.Choice(sorted(_PHASES)),
    default="pre",
    show_default=True,
    help="Which phase to evaluate.",
)
@click.option(
    "--state",
    default=None,
    metavar="JSON",
    help='Run state for mid/post: {"llm_calls": [{"model", "tokens_in", "tokens_out", "cost"}], '
    '"step_count", "tool_calls": [{"name"}], "retries", '
    '"conversation_state", "input_texts", "output_texts"}.',
)
@click.option("--result", default=None, metavar="JSON", help="The run's result (post phase), a JSON object.")
@click.option(
    "--surface",
    type=click.Choice(GATE_SURFACES),
    default=None,
    help="Evaluate at this gate surface instead of a phase (tool.before, llm.before, code.exec, ...).",
)
@click.option(
    "--signal",
    default=None,
    metavar="JSON",
    help='What the gate looks at, a JSON object: {"tool_name": "rm", "tool_args": {...}}, {"url": ...}, '
    '{"model": ..., "tokens": ...}, {"language": ..., "code": ...}, ...',
)
@click.option(
    "--metadata",
    default=None,
    metavar="JSON",
    help='Run metadata, a JSON object (e.g. {"cost_center": "cc-1", "execution_region": "DE"}).',
)
@click.option(
    "--at", "at", default=None, metavar="TIME", help="Evaluate at this time (ISO 8601 or epoch seconds)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the policy-check reply as JSON.")
@db_option
@api_options
def test(
    file: str,
    agent: str,
    workflow: str,
    user_group: str,
    user_id: str,
    inputs: str | None,
    phase: str,
    state: str | None,
    result: str | None,
    surface: str | None,
    signal: str | None,
    metadata: str | None,
    at: str | None,
    as_json: bool,
    db: str | None,
    api_url: str,
    api_key: str,
) -> None:
    """Dry-run the policies of FILE against a simulated run: nothing is stored and no counter is consumed
    (budgets and rate limits read the current counters of the store or server).

    With --surface, the check happens at that gate surface with the --signal given, e.g.
    `--surface tool.before --signal '{"tool_name": "rm"}'`."""
    policies = _load_file(file)
    request: dict[str, Any] = {
        **(_json_object(state, "--state") or {}),
        "agent_name": agent,
        "workflow_name": workflow,
        "user_group": user_group,
        "user_id": user_id,
        "inputs": _json_object(inputs, "--inputs") or {},
    }
    if result is not None:
        request["result"] = _json_object(result, "--result")
    if metadata is not None:
        request["metadata"] = _json_object(metadata, "--metadata")
    if signal is not None:
        if surface is None:
            raise click.BadParameter(
                "a signal is what a gate surface looks at: give --surface too", param_hint="--signal"
            )
        request["signal"] = _json_object(signal, "--signal")
    when = _time(at)
    full_phase = _PHASES[phase]
    if surface is not None:
        request["surface"] = surface
        full_phase = surface
    if api_url:
        reply = api_call(
            api_url,
            api_key,
            "POST",
            "/api/v1/admin/policies/test/",
            json={
                "policies": [p.to_dict() for p in policies],
                "request": request,
                "phase": full_phase,
                "at": when,
            },
        )
    else:
        reply = _dry_run(policies, request, full_phase, when, db)
    if as_json:
        click.echo(json.dumps(reply, indent=2, ensure_ascii=False))
        return
    _print_reply(reply, full_phase, len(policies))


def _time(value: str | None) -> float | None:
    """``--at``: epoch seconds or ISO 8601 (a time without offset is UTC)."""
    if value is None:
        return None
    import datetime as dt

    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"expected ISO 8601 (2025-06-02T09:30:00+02:00) or epoch seconds, got {value!r}",
            param_hint="--at",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def _dry_run(
    policies: list[Any], request: dict[str, Any], phase: str, at: float | None, db: str | None
) -> Any:
    from waxell_observe.governance.engine import PolicyEngine
    from waxell_observe.governance.request import PolicyRequest
    from waxell_observe.governance.usage_factory import usage_for_store

    try:
        policy_request = PolicyRequest.from_dict(request)
    except (TypeError, ValueError, AttributeError) as exc:
        raise click.BadParameter(f"invalid run state: {exc}", param_hint="--state") from None
    import time

    clock = (lambda: at) if at is not None else time.time
    engine = PolicyEngine(policies, usage_for_store(open_store(db)), clock)
    return engine.evaluate(policy_request, phase, dry_run=True).to_dict()


def _print_reply(reply: dict[str, Any], phase: str, count: int) -> None:
    action = reply.get("action", "allow")
    reason = reply.get("reason") or ""
    click.echo(f"{phase}: {action.upper()}{f' — {reason}' if reason else ''}")
    evaluations = reply.get("evaluations") or []
    if not evaluations:
        where = "at this surface" if "." in phase else "in this phase"
        click.echo(f"  (none of the {count} policies applies to this run {where})")
    for e in evaluations:
        line = f"  {e['action']:<8} {e['policy_name']} [{e['category']}]"
        if e.get("reason"):
            line += f": {e['reason']}"
        click.echo(line)
    metadata = reply.get("metadata") or {}
    for key in ("redacted_inputs", "redacted_result", "redacted_text"):
        if key in metadata:
            click.echo(f"  {key}: {json.dumps(metadata[key], ensure_ascii=False)}")
    if metadata.get("retry_feedback"):
        click.echo("  retry feedback:\n    " + str(metadata["retry_feedback"]).replace("\n", "\n    "))
