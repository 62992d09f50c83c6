"""``waxell-observe approvals``: list, show, approve and deny the approvals blocked runs wait for.

Works on the embedded store (``--db``, else ``WAXELL_DB``) or on a control plane (``--api-url``; answering
there needs an API key, whose name is recorded as who decided). On the store, who decided is ``--by``
(default: your login name).
"""

from __future__ import annotations

import getpass
import json
from typing import Any

import click

from waxell_observe.cli._api import api_call, api_options
from waxell_observe.cli._store import db_option, open_store
from waxell_observe.records import short_id
from waxell_observe.vocabulary.approvals import APPROVAL_STATUSES

__all__ = ["command"]

_ALL = "all"


@click.group("approvals")
def command() -> None:
    """Approvals that blocked runs wait for: list them, answer them."""


def _when(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ")


def _left(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _list(
    status: str, limit: int, db: str | None, api_url: str, api_key: str
) -> tuple[list[dict[str, Any]], int]:
    wanted = "" if status == _ALL else status
    if api_url:
        page = api_call(
            api_url, api_key, "GET", "/api/v1/read/approvals/", params={"status": wanted, "limit": limit}
        )
        return list(page.get("approvals", [])), int(page.get("total", 0))
    from waxell_observe.store.approvals import list_approvals

    approvals, total = list_approvals(open_store(db), status=wanted, limit=limit)
    return [a.to_dict() for a in approvals], total


@command.command("list")
@click.option(
    "--status",
    type=click.Choice([*APPROVAL_STATUSES, _ALL]),
    default="pending",
    show_default=True,
    help="Which approvals ('all': every status, newest first).",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500), help="How many.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@db_option
@api_options
def list_(status: str, limit: int, as_json: bool, db: str | None, api_url: str, api_key: str) -> None:
    """List approvals: pending ones most urgent first, with who may approve and the time left."""
    approvals, total = _list(status, limit, db, api_url, api_key)
    if as_json:
        click.echo(json.dumps(approvals, indent=2, ensure_ascii=False))
        return
    if not approvals:
        click.echo("no pending approvals" if status == "pending" else "no approvals")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(approvals)} of {total} approval(s)", title_justify="left")
    for header in ("id", "status", "agent", "run", "action", "approvers", "left / decided by", "requested"):
        table.add_column(header, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for a in approvals:
        table.add_row(
            a["id"],
            a["status"],
            a["agent_name"],
            short_id(a["run_id"] or "-"),
            a["action_type"],
            ", ".join(a["approvers"]) or "(anyone with a key)",
            _left(a["seconds_left"]) if a["status"] == "pending" else a["decided_by"] or "-",
            _when(a["requested_at"]),
            a["reason"],
        )
    Console(highlight=False, soft_wrap=False, width=220).print(table)


def _get(approval_id: str, db: str | None, api_url: str, api_key: str) -> dict[str, Any]:
    if api_url:
        reply: dict[str, Any] = api_call(api_url, api_key, "GET", f"/api/v1/read/approvals/{approval_id}/")
        return reply
    from waxell_observe.store.approvals import get_approval

    approval = get_approval(open_store(db), approval_id)
    if approval is None:
        raise click.ClickException(
            f"no approval {approval_id!r} (see `waxell-observe approvals list --status all`)"
        )
    return approval.to_dict()


def _describe(a: dict[str, Any]) -> str:
    lines = [
        f"approval {a['id']}: {a['status']}",
        f"  agent      {a['agent_name']}"
        + (f" (workflow {a['workflow_name']})" if a["workflow_name"] else ""),
        f"  run        {a['run_id'] or '-'}",
        f"  action     {a['action_type'] or '-'}",
        f"  policy     {a['policy_name'] or '-'}" + (f" ({a['category']})" if a["category"] else ""),
        f"  reason     {a['reason']}",
        f"  approvers  {', '.join(a['approvers']) or '(anyone with a key)'}",
        f"  requested  {_when(a['requested_at'])} UTC",
        f"  expires    {_when(a['expires_at'])} UTC"
        + (f" ({_left(a['seconds_left'])} left)" if a["status"] == "pending" else ""),
    ]
    if a["status"] != "pending":
        lines.append(f"  decided    {_when(a['decided_at'])} UTC by {a['decided_by'] or '-'}")
    if a.get("comment"):
        lines.append(f"  comment    {a['comment']}")
    return "\n".join(lines)


@command.command("show")
@click.argument("approval_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
@api_options
def show(approval_id: str, as_json: bool, db: str | None, api_url: str, api_key: str) -> None:
    """Show one approval."""
    approval = _get(approval_id, db, api_url, api_key)
    click.echo(json.dumps(approval, indent=2, ensure_ascii=False) if as_json else _describe(approval))


def _answer(
    answer: str, approval_id: str, comment: str, by: str, db: str | None, api_url: str, api_key: str
) -> dict[str, Any]:
    if api_url:
        if by:
            raise click.UsageError(
                "--by is for the embedded store: a control plane records the name of your key"
            )
        verb = "approve" if answer == "approved" else "deny"
        reply: dict[str, Any] = api_call(
            api_url,
            api_key,
            "POST",
            f"/api/v1/admin/approvals/{approval_id}/{verb}/",
            json={"comment": comment},
        )
        return reply
    from waxell_observe.store.approvals import (
        ApprovalNotAllowed,
        ApprovalNotFound,
        ApprovalNotPending,
        decide_approval,
    )

    try:
        approval = decide_approval(
            open_store(db), approval_id, answer, decided_by=by or _login(), comment=comment
        )
    except ApprovalNotFound:
        raise click.ClickException(
            f"no approval {approval_id!r} (see `waxell-observe approvals list`)"
        ) from None
    except (ApprovalNotPending, ApprovalNotAllowed) as exc:
        raise click.ClickException(str(exc)) from None
    return approval.to_dict()


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container without a passwd entry)
        return "cli"


def _answer_command(answer: str, verb: str, summary: str) -> click.Command:
    @click.command(verb, help=summary)
    @click.argument("approval_id", metavar="ID")
    @click.option("--comment", default="", help="Why (kept with the approval and in the audit log).")
    @click.option(
        "--by", default="", metavar="NAME", help="Who decides (embedded store; default: your login)."
    )
    @db_option
    @api_options
    def answer_it(
        approval_id: str, comment: str, by: str, db: str | None, api_url: str, api_key: str
    ) -> None:
        approval = _answer(answer, approval_id, comment, by, db, api_url, api_key)
        click.echo(
            f"{approval['id']} {approval['status']} by {approval['decided_by']} "
            f"at {_when(approval['decided_at'])} UTC"
        )

    return answer_it


command.add_command(
    _answer_command("approved", "approve", "Approve a pending approval: the waiting agent proceeds.")
)
command.add_command(
    _answer_command(
        "denied", "deny", "Deny a pending approval: the waiting agent gets its PolicyViolationError."
    )
)
