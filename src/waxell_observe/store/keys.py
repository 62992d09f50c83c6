"""API keys of the control plane: create, list, revoke (only a SHA-256 hash of a key is stored).

A key is ``wax_sk_`` followed by 48 random hex characters; it is shown once, when created.
Keys are identified afterwards by their ``key_id`` (the first 12 hex characters of the hash).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select, update

from waxell_observe.store.schema import api_keys

if TYPE_CHECKING:
    from waxell_observe.store import Store

__all__ = [
    "KEY_PREFIX",
    "ApiKey",
    "hash_key",
    "create_key",
    "list_keys",
    "revoke_key",
    "active_key_hashes",
    "count_active",
]

KEY_PREFIX = "wax_sk_"


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the key itself)."""

    key_id: str
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which ``key`` is stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(store: Store, name: str = "") -> tuple[str, ApiKey]:
    """Create a key; returns ``(key, record)``. The key itself is not stored anywhere."""
    key = KEY_PREFIX + secrets.token_hex(24)
    digest = hash_key(key)
    record = ApiKey(
        key_id=digest[:12], name=name[:256], prefix=key[:11], created_at=time.time(), revoked_at=None
    )
    with store.write() as conn:
        conn.execute(
            insert(api_keys).values(
                key_id=record.key_id,
                key_hash=digest,
                prefix=record.prefix,
                name=record.name,
                created_at=record.created_at,
                revoked_at=None,
            )
        )
    return key, record


def list_keys(store: Store) -> list[ApiKey]:
    """Every key, oldest first (revoked ones included)."""
    with store.read() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)).all()
    return [ApiKey(r.key_id, r.name, r.prefix, r.created_at, r.revoked_at) for r in rows]


def revoke_key(store: Store, ident: str) -> ApiKey:
    """Revoke the key named by ``ident``: its ``key_id``, a unique name, or the key itself.

    Raises ``LookupError`` (message says why) when nothing, or more than one key, matches.
    """
    ident = ident.strip()
    if not ident:
        raise LookupError("give a key id, a key name or the key itself")
    with store.write() as conn:
        if ident.startswith(KEY_PREFIX) and len(ident) > len(KEY_PREFIX) + 12:
            condition = api_keys.c.key_hash == hash_key(ident)
        else:
            condition = (api_keys.c.key_id == ident) | (api_keys.c.name == ident)
        rows = conn.execute(select(api_keys).where(condition)).all()
        if not rows:
            raise LookupError(f"no key matches {ident!r} (see `waxell-observe keys list`)")
        if len(rows) > 1:
            ids = ", ".join(r.key_id for r in rows)
            raise LookupError(f"{ident!r} matches several keys ({ids}); revoke by key id")
        row = rows[0]
        revoked_at = row.revoked_at if row.revoked_at is not None else time.time()
        conn.execute(update(api_keys).where(api_keys.c.key_id == row.key_id).values(revoked_at=revoked_at))
    return ApiKey(row.key_id, row.name, row.prefix, row.created_at, revoked_at)


def active_key_hashes(store: Store) -> frozenset[str]:
    """Hashes of every key that is not revoked."""
    with store.read() as conn:
        return frozenset(
            conn.execute(select(api_keys.c.key_hash).where(api_keys.c.revoked_at.is_(None))).scalars()
        )


def count_active(store: Store) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
            ).scalar_one()
        )
