"""``waxell-observe llm-config``: show and replace the tenant's LLM configuration (provider instances,
models, model groups, capability overrides) in the store or on a control plane."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from waxell_observe.cli._api import api_call, api_options
from waxell_observe.cli._store import db_option, open_store

__all__ = ["command"]


@click.group("llm-config")
def command() -> None:
    """The LLM configuration served at `GET /api/v1/observe/llm-config/manifest/` (waxell_observe.llm)."""


def _load(path: Path) -> Any:
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="FILE") from None


@command.command("set")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@api_options
def set_(file: Path, db: str | None, api_url: str, api_key: str) -> None:
    """Replace the configuration with FILE (JSON, or YAML for any other extension): the sections
    instances, tenant_models, model_groups, capability_overrides. A bad file changes nothing."""
    data = _load(file)
    if api_url:
        reply = api_call(api_url, api_key, "PUT", "/api/v1/admin/llm-config/", json=data)
        counts = reply.get("counts") or {}
        etag = reply.get("etag", "")
    else:
        import getpass

        from waxell_observe.store.llm_config import (
            LlmConfigError,
            manifest_body,
            manifest_etag,
            replace_llm_config,
        )

        try:
            with open_store(db).write() as conn:
                stored = replace_llm_config(conn, data, updated_by=getpass.getuser())
        except LlmConfigError as exc:
            raise click.ClickException("\n  ".join(["invalid LLM configuration:", *exc.problems])) from None
        counts = stored.counts()
        etag = manifest_etag(manifest_body(stored, tenant_id="local", tenant_slug="local"))
    summary = ", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in counts.items())
    click.echo(f"LLM configuration stored: {summary} (etag {etag})")


def _read(db: str | None, api_url: str, api_key: str) -> dict[str, Any]:
    if api_url:
        return dict(api_call(api_url, api_key, "GET", "/api/v1/read/llm-config/"))
    from waxell_observe.store.llm_config import manifest_body, manifest_etag, read_llm_config

    with open_store(db).read() as conn:
        stored = read_llm_config(conn)
    return {
        "configured": stored.configured,
        "updated_at": stored.updated_at,
        "updated_by": stored.updated_by,
        "etag": manifest_etag(manifest_body(stored, tenant_id="local", tenant_slug="local")),
        "counts": stored.counts(),
        **stored.document,
    }


def _yes(value: Any) -> str:
    return "yes" if value else "-"


def _table(*headers: str, title: str) -> Any:
    from rich.table import Table

    table = Table(*headers, title=title)
    for column in table.columns:
        column.overflow = "fold"  # ids and URLs are shown whole, never cut with an ellipsis
    return table


def _render(config: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    if not config.get("configured"):
        console.print("no LLM configuration; store one with `waxell-observe llm-config set FILE.yaml`")
        return
    when = datetime.fromtimestamp(float(config["updated_at"]), tz=timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )
    by = f" by {config['updated_by']}" if config.get("updated_by") else ""
    console.print(f"LLM configuration of {when}{by} (etag {config.get('etag', '')})")
    instances = _table("instance", "kind", "base url", "secret", "default", "catalog", title="Instances")
    for i in config.get("instances") or []:
        catalog = f"{i['catalog_id']}@{i['catalog_version']}" if i.get("catalog_id") else "-"
        instances.add_row(
            i["instance_id"], i["kind"], i.get("base_url") or "(provider's)", i.get("secret_ref") or "-",
            _yes(i.get("is_default_for_kind")), catalog,
        )  # fmt: skip
    console.print(instances)
    models = _table(
        "model", "instance", "provider model", "tools", "json", "streaming", "context", title="Models"
    )
    for m in config.get("tenant_models") or []:
        window = m.get("context_window")
        models.add_row(
            m["model_id"], m["instance_id"], m["provider_model_id"], _yes(m.get("supports_tools")),
            _yes(m.get("supports_json")), _yes(m.get("supports_streaming")), f"{window:,}" if window else "-",
        )  # fmt: skip
    console.print(models)
    groups = _table("group", "name", "chain", title="Model groups")
    for g in config.get("model_groups") or []:
        chain = " → ".join(f"{e['model_id']}@{e['instance_id']}" for e in g.get("entries") or [])
        groups.add_row(g["group_id"], g.get("display_name") or "", chain)
    console.print(groups)
    overrides = config.get("capability_overrides") or []
    if overrides:
        table = _table("model", "instance", "sets", title="Capability overrides")
        for o in overrides:
            sets = ", ".join(f"{k}={v}" for k, v in o.items() if k not in ("model_id", "instance_id"))
            table.add_row(o["model_id"], o.get("instance_id") or "(every)", sets)
        console.print(table)


@command.command("show")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the four sections as JSON (loadable again with `llm-config set`).",
)
@db_option
@api_options
def show(as_json: bool, db: str | None, api_url: str, api_key: str) -> None:
    """Show the stored configuration: instances, models, model groups, capability overrides."""
    config = _read(db, api_url, api_key)
    if as_json:
        from waxell_observe.vocabulary.llm_config import MANIFEST_SECTIONS

        document = {name: config.get(name) or [] for name in MANIFEST_SECTIONS}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    _render(config)


@command.command("resolve")
@click.argument("name")
@click.option(
    "--mode",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json", "tool", "stream"]),
    help="Keep the models able to answer in this mode.",
)
@db_option
@api_options
def resolve(name: str, mode: str, db: str | None, api_url: str, api_key: str) -> None:
    """The models a call to NAME (a model group or a model id) tries, in order."""
    from waxell_observe.llm import LlmError, LlmManifest
    from waxell_observe.llm.resolve import resolve_in

    manifest = LlmManifest.from_dict(_read(db, api_url, api_key))
    try:
        chain = resolve_in(manifest, name, mode=mode)
    except LlmError as exc:
        raise click.ClickException(str(exc)) from None
    for n, (instance, model) in enumerate(chain, 1):
        url = instance.base_url or "(provider's own URL)"
        where = f"{instance.kind}, {url}"
        click.echo(f"{n}. {model.model_id}@{instance.instance_id} → {model.provider_model_id} ({where})")
