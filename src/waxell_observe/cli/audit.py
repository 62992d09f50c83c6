"""``waxell-observe audit``: the audit log — policy decisions (every non-allow evaluation), approvals,
events."""

from __future__ import annotations

import json
from typing import Any

import click

from waxell_observe.cli._api import api_call, api_options
from waxell_observe.cli._store import db_option, open_store
from waxell_observe.records import short_id

__all__ = ["command"]


@click.command("audit")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, 100_000), help="How many events."
)
@click.option("--run", "run_id", default="", metavar="RUN_ID", help="Only events of this run.")
@click.option("--action", default="", help="Only events with this action (warn, redact, block, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (newest first) instead of a table.")
@db_option
@api_options
def command(
    limit: int, run_id: str, action: str, as_json: bool, db: str | None, api_url: str, api_key: str
) -> None:
    """Show the audit log, newest first."""
    events = _events(limit, run_id, action, db, api_url, api_key)
    if as_json:
        click.echo(json.dumps(events, indent=2, ensure_ascii=False))
        return
    if not events:
        click.echo("no audit events")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(events)} event(s)", title_justify="left")
    for header in ("time", "event", "action", "policy", "category", "phase", "agent", "run"):
        table.add_column(header, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for e in events:
        table.add_row(
            (e["ts"] or "")[:19].replace("T", " "),
            e["event"],
            e["action"],
            e["policy_name"],
            e["category"],
            e["phase"],
            e["agent_name"],
            short_id(e["run_id"] or "-"),
            e["reason"],
        )
    Console(highlight=False, soft_wrap=False, width=200).print(table)


def _events(
    limit: int, run_id: str, action: str, db: str | None, api_url: str, api_key: str
) -> list[dict[str, Any]]:
    if api_url:
        events: list[dict[str, Any]] = []
        while len(events) < limit:  # the read API pages by at most 500
            page = api_call(
                api_url,
                api_key,
                "GET",
                "/api/v1/read/audit/",
                params={
                    "limit": min(500, limit - len(events)),
                    "offset": len(events),
                    "run_id": run_id,
                    "action": action,
                },
            )
            batch = list(page.get("events", []))
            events.extend(batch)
            if not batch or len(events) >= int(page.get("total", 0)):
                break
        return events
    from waxell_observe.store.aggregates import list_audit

    with open_store(db).read() as conn:
        events, _ = list_audit(conn, limit=limit, run_id=run_id, action=action)
    return events
