"""``waxell-observe demo``: run an instrumented agent offline and print its trace."""

from __future__ import annotations

import click

from waxell_observe.cli._store import db_option, open_store
from waxell_observe.records import short_id

__all__ = ["command"]


@click.command("demo")
@click.option(
    "--question", default="Can I get a refund for last month's invoice?", help="The ticket to answer."
)
@click.option("--json", "as_json", is_flag=True, help="Print the recorded run as JSON.")
@db_option
def command(question: str, as_json: bool, db: str | None) -> None:
    """Run a small offline agent on the embedded store and print what was recorded."""
    import json

    import waxell_observe
    from waxell_observe.config import get_config, resolve_config, set_config
    from waxell_observe.demo import run_demo
    from waxell_observe.store.reader import get_run

    config = resolve_config(db=db) if db else get_config()
    if config.mode != "embedded":
        config = config.replace(api_url="", api_key="")
    set_config(config)
    result = run_demo(question)
    report = waxell_observe.flush_sync(timeout=30)
    if report.pending or report.dropped:
        raise click.ClickException(f"the demo run was not fully stored: {report}")
    with open_store(db).read() as conn:
        run = get_run(conn, result.run_id)
    if run is None:
        raise click.ClickException(f"run {result.run_id} is missing from the store")
    if as_json:
        click.echo(json.dumps(run, indent=2, ensure_ascii=False))
        return
    from waxell_observe.cli.render import run_tree

    click.echo(f"Answer: {result.answer}\n")
    run_tree(run)
    click.echo(
        f"\nStored in {config.db_url.removeprefix('sqlite:///')}. "
        f"Try: waxell-observe runs   |   waxell-observe show {short_id(result.run_id)}"
    )
