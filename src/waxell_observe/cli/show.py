"""``waxell-observe show RUN_ID``: one run as a tree, or as JSON."""

from __future__ import annotations

import json

import click

from waxell_observe.cli._store import db_option, open_store

__all__ = ["command", "find_run"]


def find_run(conn, run_id: str):  # type: ignore[no-untyped-def]
    """The run with this id, or with this unique id beginning or end (at least 6 characters: the
    short ids the CLI and the dashboard show are ends, see ``records.short_id``)."""
    from sqlalchemy import select

    from waxell_observe.store.reader import get_run
    from waxell_observe.store.schema import runs

    run = get_run(conn, run_id)
    if run is not None or len(run_id) < 6:
        return run
    matches = (
        conn.execute(
            select(runs.c.run_id)
            .where(
                runs.c.run_id.startswith(run_id, autoescape=True)
                | runs.c.run_id.endswith(run_id, autoescape=True)
            )
            .limit(2)
        )
        .scalars()
        .all()
    )
    if len(matches) == 1:
        return get_run(conn, matches[0])
    if len(matches) > 1:
        raise click.ClickException(f"run id part {run_id!r} is ambiguous; give more characters")
    return None


@click.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run with all its records as JSON.")
@db_option
def command(run_id: str, as_json: bool, db: str | None) -> None:
    """Show one run: LLM calls, steps, spans, scores, tags and conversation."""
    with open_store(db).read() as conn:
        run = find_run(conn, run_id)
    if run is None:
        raise click.ClickException(f"no run {run_id!r} in the store")
    if as_json:
        click.echo(json.dumps(run, indent=2, ensure_ascii=False))
        return
    from waxell_observe.cli.render import run_tree

    run_tree(run)
