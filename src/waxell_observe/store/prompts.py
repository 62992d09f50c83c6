"""Versioned prompts in the store (table ``prompts``), served by ``GET prompts/{name}/``.

Adding a prompt under an existing name creates the next version (1, 2, ...). A label
(``production``, ``staging``, ...) is on at most one version of a prompt: giving it to a new
version moves it. Looking a prompt up by ``version`` and/or ``label`` returns that version;
with neither, or with the label ``latest``, it returns the newest version.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from waxell_observe.store.schema import prompts

__all__ = ["PROMPT_TYPES", "content_hash", "add_prompt", "get_prompt", "list_prompts"]

PROMPT_TYPES = ("text", "chat")


def content_hash(content: str | list[dict[str, Any]]) -> str:
    """SHA-256 hex of a prompt's content (chat content as compact, key-sorted JSON)."""
    if isinstance(content, str):
        data = content
    else:
        data = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _check(name: str, content: Any, prompt_type: str | None, labels: Sequence[str], config: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise ValueError(f"prompt name must be a non-empty string of at most 256 characters, got {name!r}")
    inferred = "text" if isinstance(content, str) else "chat"
    if prompt_type is None:
        prompt_type = inferred
    if prompt_type not in PROMPT_TYPES:
        raise ValueError(f"prompt_type must be 'text' or 'chat', got {prompt_type!r}")
    if prompt_type == "text" and not isinstance(content, str):
        raise ValueError("a text prompt needs a string as content")
    if prompt_type == "chat" and (
        not isinstance(content, list)
        or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in content
        )
    ):
        raise ValueError('a chat prompt needs a list of {"role": str, "content": str} messages as content')
    if isinstance(labels, str) or not all(isinstance(label, str) and label.strip() for label in labels):
        raise ValueError(f"labels must be a list of non-empty strings, got {labels!r}")
    if "latest" in labels:
        raise ValueError("'latest' is not a label you can set: it always means the newest version")
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"config must be a dict, got {type(config).__name__}")
    return prompt_type


def _as_dict(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "version": int(row.version),
        "prompt_type": row.prompt_type,
        "content": row.content,
        "config": row.config or {},
        "labels": list(row.labels or []),
        "content_hash": row.content_hash,
    }


def add_prompt(
    conn: Connection,
    name: str,
    content: str | list[dict[str, str]],
    *,
    prompt_type: str | None = None,
    labels: Sequence[str] = (),
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store a new version of prompt ``name`` (inside a write transaction); returns it as served.

    ``prompt_type`` defaults to ``text`` for a string and ``chat`` for a list of messages.
    Raises ``ValueError`` naming the problem for bad input.
    """
    prompt_type = _check(name, content, prompt_type, labels, config)
    labels = list(dict.fromkeys(labels))
    query = select(func.max(prompts.c.version)).where(prompts.c.name == name)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%(name)s))", {"name": "prompt:" + name})
    version = int(conn.execute(query).scalar() or 0) + 1
    if labels:
        for row in conn.execute(select(prompts.c.version, prompts.c.labels).where(prompts.c.name == name)):
            kept = [label for label in (row.labels or []) if label not in labels]
            if kept != list(row.labels or []):
                conn.execute(
                    update(prompts)
                    .where(prompts.c.name == name, prompts.c.version == row.version)
                    .values(labels=kept)
                )
    values = {
        "name": name,
        "version": version,
        "prompt_type": prompt_type,
        "content": content,
        "config": config or {},
        "labels": labels,
        "content_hash": content_hash(content),
        "created_at": time.time(),
    }
    conn.execute(insert(prompts).values(**values))
    return _as_dict(
        conn.execute(select(prompts).where(prompts.c.name == name, prompts.c.version == version)).one()
    )


def get_prompt(
    conn: Connection, name: str, *, label: str | None = None, version: int | None = None
) -> dict[str, Any] | None:
    """The version of ``name`` selected by ``version`` and/or ``label`` (see the module doc), or ``None``."""
    query = select(prompts).where(prompts.c.name == name)
    if version is not None:
        query = query.where(prompts.c.version == version)
    rows = conn.execute(query.order_by(prompts.c.version.desc())).all()
    if label and label != "latest":
        rows = [row for row in rows if label in (row.labels or [])]
    return _as_dict(rows[0]) if rows else None


def list_prompts(conn: Connection) -> list[dict[str, Any]]:
    """Every version of every prompt, by name then version."""
    return [_as_dict(r) for r in conn.execute(select(prompts).order_by(prompts.c.name, prompts.c.version))]
