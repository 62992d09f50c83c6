"""Policies as data in the store: add (replace by name), list, remove, and the change counter.

Every change bumps the single ``policy_state.version`` row in the same transaction, so a decider can
notice changes with one tiny read (:func:`policies_version`) instead of re-reading the policies.
Policies are stored validated (``Policy.to_dict()``) and validated again when loaded, so a row
edited by hand into something invalid is reported, not half-applied.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from waxell_observe.store.database import Store
from waxell_observe.store.schema import gov_breakers, policies, policy_state

from . import changes
from .loader import PolicyFileError, parse_policies
from .models import Policy
from .usage import BreakerState

__all__ = [
    "PolicyNotFound",
    "add_policies",
    "on_change",
    "policies_version",
    "policy_rows",
    "remove_policies",
    "stored_policies",
]

log = logging.getLogger("waxell_observe.governance")


class PolicyNotFound(KeyError):
    """``remove`` named a policy that is not in the store."""

    def __str__(self) -> str:
        return f"no policy named {self.args[0]!r}"


def on_change(callback: Callable[[str], None]) -> None:
    """Call ``callback(store_url)`` after this process changed the policies of a store (see
    :func:`.changes.on_change`)."""
    changes.on_change(callback)


def _changed(store: Store) -> None:
    changes.notify(store.url)


def _bump(conn: Connection, now: float) -> int:
    """Increase the policies version (creating the row); returns the new version."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = module.insert(policy_state).values(id=1, version=1, updated_at=now)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["id"],
            set_={"version": policy_state.c.version + 1, "updated_at": statement.excluded.updated_at},
        )
    )
    return int(conn.execute(select(policy_state.c.version).where(policy_state.c.id == 1)).scalar_one())


def add_policies(store: Store, new: Iterable[Policy], *, now: float | None = None) -> list[str]:
    """Store ``new`` in one transaction; a policy whose name exists replaces it. A kill switch that
    replaces one starts with a closed breaker that ignores earlier outcomes. Returns the names."""
    new = list(new)
    if not new:
        return []
    now = time.time() if now is None else now
    with store.write() as conn:
        version = _bump(conn, now)
        names = [p.name for p in new]
        replaced = set(conn.execute(select(policies.c.name).where(policies.c.name.in_(names))).scalars())
        conn.execute(delete(policies).where(policies.c.name.in_(names)))
        # a kill switch that replaces one starts with a closed breaker that forgets earlier outcomes
        conn.execute(delete(gov_breakers).where(gov_breakers.c.scope_key.in_(names)))
        switches = [p.name for p in new if p.category == "kill-switch" and p.name in replaced]
        if switches:
            state = BreakerState(recovered_at=now).to_dict()
            conn.execute(
                gov_breakers.insert(), [{"scope_key": n, "state": state, "updated_at": now} for n in switches]
            )
        conn.execute(
            policies.insert(),
            [
                {
                    "name": p.name,
                    "category": p.category,
                    "priority": p.priority,
                    "enabled": p.enabled,
                    "definition": p.to_dict(),
                    # file order within one add; later adds after earlier ones
                    "seq": version * 100_000 + i,
                    "updated_at": now,
                }
                for i, p in enumerate(new)
            ],
        )
    _changed(store)
    return names


def remove_policies(store: Store, names: Iterable[str], *, now: float | None = None) -> list[str]:
    """Delete the named policies (one transaction). Raises :class:`PolicyNotFound` for an unknown
    name, deleting nothing."""
    names = list(dict.fromkeys(names))
    now = time.time() if now is None else now
    with store.write() as conn:
        known = set(conn.execute(select(policies.c.name).where(policies.c.name.in_(names))).scalars())
        missing = [n for n in names if n not in known]
        if missing:
            raise PolicyNotFound(missing[0])
        conn.execute(delete(policies).where(policies.c.name.in_(names)))
        conn.execute(delete(gov_breakers).where(gov_breakers.c.scope_key.in_(names)))
        _bump(conn, now)
    _changed(store)
    return names


def policies_version(conn: Connection) -> int:
    """The current policies version (0: never changed)."""
    value = conn.execute(select(policy_state.c.version).where(policy_state.c.id == 1)).scalar()
    return int(value or 0)


def policy_rows(conn: Connection) -> list[dict[str, Any]]:
    """Stored policies in evaluation-tie order: ``{name, category, priority, enabled, rules, scope,
    updated_at, definition}``."""
    rows = conn.execute(select(policies).order_by(policies.c.seq, policies.c.name)).mappings().all()
    out = []
    for row in rows:
        definition = dict(row["definition"] or {})
        out.append(
            {
                "name": row["name"],
                "category": row["category"],
                "priority": row["priority"],
                "enabled": bool(row["enabled"]),
                "scope": definition.get("scope", {}),
                "rules": definition.get("rules", {}),
                "updated_at": row["updated_at"],
                "definition": definition,
            }
        )
    return out


def stored_policies(conn: Connection) -> list[Policy]:
    """The stored policies, validated, in the order they were added.

    A stored definition that no longer validates (edited by hand, or from a newer version) is
    skipped with an error in the log, so one bad row does not disable every other policy.
    """
    loaded: list[Policy] = []
    for row in policy_rows(conn):
        try:
            loaded.extend(parse_policies([row["definition"]], source="store"))
        except PolicyFileError as exc:
            log.error("stored policy %r is invalid and is ignored: %s", row["name"], exc)
    return loaded
