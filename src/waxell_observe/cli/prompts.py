"""``waxell-observe prompts``: add and list the versioned prompts the control plane serves."""

from __future__ import annotations

import json
from typing import Any

import click

from waxell_observe.cli._store import db_option, open_store

__all__ = ["command"]


@click.group("prompts")
def command() -> None:
    """Manage prompts served by `GET /api/v1/observe/prompts/{name}/`."""


@command.command("add")
@click.argument("name")
@click.option("--text", "text_", default=None, help="The prompt text (a text prompt).")
@click.option(
    "--file",
    "file_",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Read the content from a file ('-': stdin); a JSON list of {role, content} makes a chat prompt.",
)
@click.option(
    "--label", "labels", multiple=True, help="Label this version (moved from older versions); repeatable."
)
@click.option(
    "--config", "config_json", default=None, metavar="JSON", help="Model configuration, as a JSON object."
)
@db_option
def add(
    name: str, text_: str | None, file_: Any, labels: tuple[str, ...],
    config_json: str | None, db: str | None,
) -> None:  # fmt: skip
    """Add a new version of prompt NAME."""
    from waxell_observe.store.prompts import add_prompt

    if (text_ is None) == (file_ is None):
        raise click.UsageError("give the content with exactly one of --text or --file")
    content: str | list[dict[str, str]]
    if text_ is not None:
        content = text_
    else:
        raw = file_.read()
        content = raw
        if raw.lstrip().startswith("["):
            try:
                content = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--file") from None
    config = None
    if config_json is not None:
        try:
            config = json.loads(config_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--config") from None
    try:
        with open_store(db).write() as conn:
            prompt = add_prompt(conn, name, content, labels=list(labels), config=config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    labelled = f" [{', '.join(prompt['labels'])}]" if prompt["labels"] else ""
    click.echo(f"{prompt['name']} version {prompt['version']}{labelled} ({prompt['prompt_type']})")


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every version, with content).")
@db_option
def list_(as_json: bool, db: str | None) -> None:
    """List every version of every prompt."""
    from waxell_observe.store.prompts import list_prompts

    with open_store(db).read() as conn:
        prompts = list_prompts(conn)
    if as_json:
        click.echo(json.dumps(prompts, indent=2, ensure_ascii=False))
        return
    if not prompts:
        click.echo("no prompts")
        return
    for p in prompts:
        click.echo(
            f"{p['name']}  v{p['version']}  {p['prompt_type']}  "
            f"{','.join(p['labels'])}  {p['content_hash'][:12]}"
        )
