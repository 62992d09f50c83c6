"""``waxell-observe datasets``: create, add to, list, show and export versioned datasets.

Works on the embedded store (``--db``, else ``WAXELL_DB``) or on a control plane (``--api-url``).
"""

from __future__ import annotations

import csv
import json
from typing import Any

import click
from rich.table import Table

from waxell_observe.cli._api import api_options
from waxell_observe.cli._evaluation import backend_for, call, console, echo_json, short
from waxell_observe.cli._store import db_option

__all__ = ["command"]


@click.group("datasets")
def command() -> None:
    """Versioned datasets of {input, expected, metadata} items for experiments."""


def _items(file_: str | None, item_json: tuple[str, ...]) -> list[dict[str, Any]]:
    from waxell_observe.evaluation.datasets import read_items

    items: list[dict[str, Any]] = []
    if file_:
        items.extend(call(lambda: read_items(file_)))
    for number, text in enumerate(item_json, 1):
        try:
            item = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(
                f"item {number} is not valid JSON: {exc.msg}", param_hint="--item"
            ) from None
        if not isinstance(item, dict):
            raise click.BadParameter(f"item {number} must be a JSON object", param_hint="--item")
        items.append(item)
    return items


_file_option = click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Items from a .jsonl file (one {input, expected, metadata, id} a line) or a .csv file.",
)
_item_option = click.option(
    "--item", "item_json", multiple=True, metavar="JSON", help="One item as a JSON object; repeatable."
)


@command.command("create")
@click.argument("name")
@_file_option
@_item_option
@click.option("--description", default="", help="What the dataset is for.")
@db_option
@api_options
def create(
    name: str, file_: str | None, item_json: tuple[str, ...], description: str, db: str | None, api_url: str,
    api_key: str,
) -> None:  # fmt: skip
    """Create dataset NAME (version 1) from a file and/or --item objects."""
    items = _items(file_, item_json)
    backend = backend_for(db, api_url, api_key)
    created = call(lambda: backend.create_dataset(name, description, {}, items))
    click.echo(f"{created['name']} version {created['version']}: {created['item_count']} items")


@command.command("add")
@click.argument("name")
@_file_option
@_item_option
@db_option
@api_options
def add(
    name: str, file_: str | None, item_json: tuple[str, ...], db: str | None, api_url: str, api_key: str
) -> None:
    """Add items to dataset NAME as a new version (an item with an existing id replaces it)."""
    items = _items(file_, item_json)
    if not items:
        raise click.UsageError("give items with --file and/or --item")
    backend = backend_for(db, api_url, api_key)
    version = call(lambda: backend.add_items(name, items))
    click.echo(
        f"{version['name']} version {version['version']}: {version['item_count']} items ({version['change']})"
    )


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
@api_options
def list_(as_json: bool, db: str | None, api_url: str, api_key: str) -> None:
    """List datasets with their latest version and item count."""
    backend = backend_for(db, api_url, api_key)
    found = call(backend.list_datasets)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("no datasets")
        return
    table = Table("dataset", "version", "items", "description")
    for dataset in found:
        table.add_row(
            dataset["name"],
            str(dataset["version"]),
            str(dataset["item_count"]),
            short(dataset["description"]),
        )
    console().print(table)


def _dataset(backend: Any, name: str, version: int | None) -> dict[str, Any]:
    found = call(lambda: backend.get_dataset(name, version))
    if found is None:
        raise click.ClickException(f"unknown dataset {name!r}")
    return dict(found)


@command.command("show")
@click.argument("name")
@click.option("--version", type=click.IntRange(1), default=None, help="This version (default: the latest).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the dataset with its items and versions as JSON."
)
@db_option
@api_options
def show(name: str, version: int | None, as_json: bool, db: str | None, api_url: str, api_key: str) -> None:
    """Show one version of dataset NAME: its items and its versions."""
    backend = backend_for(db, api_url, api_key)
    dataset = _dataset(backend, name, version)
    versions = call(lambda: backend.list_versions(name))
    if as_json:
        echo_json({**dataset, "versions": versions})
        return
    out = console()
    out.print(
        f"[bold]{dataset['name']}[/bold] version {dataset['version']} of {dataset['latest_version']}: "
        f"{dataset['item_count']} items"
    )
    items = Table("id", "input", "expected", "metadata")
    for item in dataset["items"]:
        items.add_row(item["id"], short(item["input"]), short(item["expected"]), short(item["metadata"], 40))
    out.print(items)
    history = Table("version", "items", "change")
    for row in versions:
        history.add_row(str(row["version"]), str(row["item_count"]), row["change"])
    out.print(history)


@command.command("export")
@click.argument("name")
@click.option("--version", type=click.IntRange(1), default=None, help="This version (default: the latest).")
@click.option("--format", "format_", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="File to write ('-': stdout)."
)
@db_option
@api_options
def export(
    name: str, version: int | None, format_: str, output: Any, db: str | None, api_url: str, api_key: str
) -> None:
    """Write one version of dataset NAME as JSON lines (default) or CSV (cells holding JSON)."""
    dataset = _dataset(backend_for(db, api_url, api_key), name, version)
    items = [
        {"id": i["id"], "input": i["input"], "expected": i["expected"], "metadata": i["metadata"]}
        for i in dataset["items"]
    ]
    if format_ == "jsonl":
        for item in items:
            output.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(output, fieldnames=["id", "input", "expected", "metadata"], lineterminator="\n")
    writer.writeheader()
    for item in items:
        writer.writerow({key: _cell(value) for key, value in item.items()})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
