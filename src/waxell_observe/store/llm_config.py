"""The tenant's LLM configuration (table ``llm_config``): provider instances, the tenant's models on them,
model groups and capability overrides, one document per store, replaced whole.

The control plane serves it as the manifest of ``GET /api/v1/observe/llm-config/manifest/``
(:func:`manifest_body`, :func:`manifest_etag`), ``waxell_observe.llm`` reads it (from the server, or
from the embedded store when no ``api_url`` is configured), ``waxell-observe llm-config`` shows and
replaces it. What a valid document is: :mod:`waxell_observe.store.llm_config_models`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, Connection, Float, String, Table, delete, insert, select

from waxell_observe.store.llm_config_models import LlmConfigError, validate_llm_config
from waxell_observe.store.schema import Json, metadata
from waxell_observe.vocabulary.llm_config import MANIFEST_SCHEMA_VERSION, MANIFEST_SECTIONS

__all__ = [
    "LlmConfigError",
    "StoredLlmConfig",
    "llm_config",
    "manifest_body",
    "manifest_etag",
    "read_llm_config",
    "replace_llm_config",
]

_ROW_ID = "default"

llm_config = Table(
    "llm_config",
    metadata,
    Column("config_id", String(64), primary_key=True),
    Column("document", Json, nullable=False, default=dict),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(256), nullable=False, default=""),
)
"""At most one row (``config_id`` ``default``): the validated document, when and by whom it was stored."""


@dataclass(frozen=True)
class StoredLlmConfig:
    """The stored configuration: ``document`` (the four sections), ``updated_at`` (UNIX seconds, ``None``
    when nothing was ever stored) and ``updated_by`` (the API key's name, the CLI user, or ``""``)."""

    document: dict[str, Any] = field(default_factory=lambda: {name: [] for name in MANIFEST_SECTIONS})
    updated_at: float | None = None
    updated_by: str = ""

    @property
    def configured(self) -> bool:
        return self.updated_at is not None

    def counts(self) -> dict[str, int]:
        """How many entries each section has."""
        return {name: len(self.document.get(name) or []) for name in MANIFEST_SECTIONS}


def read_llm_config(conn: Connection) -> StoredLlmConfig:
    """The stored configuration (an empty one when none was stored)."""
    row = conn.execute(select(llm_config).where(llm_config.c.config_id == _ROW_ID)).first()
    if row is None:
        return StoredLlmConfig()
    stored = row._mapping
    document = {name: list((stored["document"] or {}).get(name) or []) for name in MANIFEST_SECTIONS}
    return StoredLlmConfig(document, float(stored["updated_at"]), str(stored["updated_by"] or ""))


def replace_llm_config(
    conn: Connection, data: Any, *, updated_by: str = "", now: float | None = None
) -> StoredLlmConfig:
    """Validate ``data`` and store it in place of the current configuration; raises
    :class:`LlmConfigError` (nothing stored) when it is not valid."""
    document = validate_llm_config(data)
    at = time.time() if now is None else now
    conn.execute(delete(llm_config).where(llm_config.c.config_id == _ROW_ID))
    conn.execute(
        insert(llm_config).values(config_id=_ROW_ID, document=document, updated_at=at, updated_by=updated_by)
    )
    return StoredLlmConfig(document, at, updated_by)


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def manifest_body(
    stored: StoredLlmConfig, *, tenant_id: str, tenant_slug: str, now: float | None = None
) -> dict[str, Any]:
    """The manifest: ``schema_version``, ``tenant_id``, ``tenant_slug``, ``generated_at`` (ISO 8601 UTC,
    the time of this answer), then the configuration's sections."""
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "tenant_id": tenant_id,
        "tenant_slug": tenant_slug,
        "generated_at": _iso(time.time() if now is None else now),
        **{name: stored.document.get(name) or [] for name in MANIFEST_SECTIONS},
    }


def manifest_etag(body: dict[str, Any]) -> str:
    """The manifest's entity tag: a quoted SHA-256 (first 32 hex characters) of its content as compact,
    key-sorted JSON, without ``generated_at`` (so it changes exactly when the configuration or the
    tenant does)."""
    content = {k: v for k, v in body.items() if k != "generated_at"}
    data = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return '"' + hashlib.sha256(data.encode("utf-8")).hexdigest()[:32] + '"'
