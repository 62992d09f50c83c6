"""``waxell-observe runs``: recent runs, newest first."""

from __future__ import annotations

import json

import click

from waxell_observe.cli._store import db_option, open_store
from waxell_observe.vocabulary import RUN_STATUSES

__all__ = ["command"]


@click.command("runs")
@click.option("--agent", default="", help="Only runs of this agent.")
@click.option("--workflow", default="", help="Only runs of this workflow.")
@click.option("--session", default="", help="Only runs of this session.")
@click.option("--user", default="", help="Only runs of this end user.")
@click.option(
    "--status",
    default="",
    type=click.Choice(["", *RUN_STATUSES]),
    help="Only runs with this status.",
)
@click.option("--tag", default="", metavar="KEY[:VALUE]", help="Only runs carrying this tag (and value).")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 100_000), help="How many runs."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@db_option
def command(
    agent: str,
    workflow: str,
    session: str,
    user: str,
    status: str,
    tag: str,
    limit: int,
    as_json: bool,
    db: str | None,
) -> None:
    """List recent runs, newest first."""
    from waxell_observe.store.reader import RunFilter, list_runs

    tag_key, _, tag_value = tag.partition(":")
    run_filter = RunFilter(
        agent_name=agent,
        workflow_name=workflow,
        session_id=session,
        user_id=user,
        status=status,
        tag_key=tag_key,
        tag_value=tag_value,
    )
    with open_store(db).read() as conn:
        runs = list_runs(conn, run_filter, limit=limit)
    if as_json:
        click.echo(json.dumps(runs, indent=2, ensure_ascii=False))
        return
    from waxell_observe.cli.render import runs_table

    runs_table(runs)
