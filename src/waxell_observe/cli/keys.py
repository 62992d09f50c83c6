"""``waxell-observe keys``: create, list and revoke control-plane API keys."""

from __future__ import annotations

import datetime as _dt
import json

import click

from waxell_observe.cli._store import db_option, open_store

__all__ = ["command"]


@click.group("keys")
def command() -> None:
    """Manage API keys of the control plane (only a hash of each key is stored)."""


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@command.command("create")
@click.option("--name", default="", help="A label to recognise the key by.")
@db_option
def create(name: str, db: str | None) -> None:
    """Create a key and print it (this is the only time it is shown)."""
    from waxell_observe.store.keys import create_key

    key, record = create_key(open_store(db), name)
    click.echo(key)
    click.echo(
        f"key id {record.key_id}{f' ({name})' if name else ''}: store it now, it cannot be shown again. "
        "Clients send it as the X-Wax-Key header (WAXELL_API_KEY).",
        err=True,
    )


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@db_option
def list_(as_json: bool, db: str | None) -> None:
    """List keys (id, name, prefix, created, revoked)."""
    from waxell_observe.store.keys import list_keys

    keys = list_keys(open_store(db))
    if as_json:
        rows = [
            {
                "key_id": k.key_id,
                "name": k.name,
                "prefix": k.prefix,
                "created_at": k.created_at,
                "revoked_at": k.revoked_at,
                "active": k.active,
            }
            for k in keys
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not keys:
        click.echo("no keys (the server runs in local mode on loopback)")
        return
    click.echo(f"{'KEY ID':<14}{'NAME':<24}{'PREFIX':<14}{'CREATED':<25}REVOKED")
    for k in keys:
        click.echo(
            f"{k.key_id:<14}{k.name[:23]:<24}{k.prefix + '…':<14}"
            f"{_when(k.created_at):<25}{_when(k.revoked_at)}"
        )


@command.command("revoke")
@click.argument("key")
@db_option
def revoke(key: str, db: str | None) -> None:
    """Revoke KEY (its key id, its unique name, or the key itself)."""
    from waxell_observe.store.keys import revoke_key

    try:
        record = revoke_key(open_store(db), key)
    except LookupError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    click.echo(f"revoked key {record.key_id}{f' ({record.name})' if record.name else ''}")
