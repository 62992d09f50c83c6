"""Versioned datasets in the store (tables ``datasets``, ``dataset_versions``, ``dataset_items``).

A dataset is a named list of items ``{id, input, expected, metadata}``. Creating it makes version
1; every later change (adding items, editing one, removing some) makes the next version, and
reading at a version returns exactly the items that version held, in the order they were added.
An edited item keeps its id. Every function works inside one transaction (``Store.write()`` or
``Store.read()``) and raises ``ValueError`` naming the problem for bad input.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from waxell_observe.records import new_id
from waxell_observe.store.evaluation_schema import dataset_items, dataset_versions, datasets

__all__ = [
    "ITEM_FIELDS",
    "create_dataset",
    "add_items",
    "update_item",
    "remove_items",
    "get_dataset",
    "list_datasets",
    "list_versions",
    "check_item",
]

ITEM_FIELDS = ("id", "input", "expected", "metadata")
"""What an item may hold (``id`` is made when not given)."""

_MISSING: Any = object()


def _items(count: int) -> str:
    """``1 item``, ``3 items`` (the version history's wording)."""
    return f"{count} item" if count == 1 else f"{count} items"


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise ValueError(f"dataset name must be a non-empty string of at most 256 characters, got {name!r}")
    return name


def check_item(item: Any, where: str = "item") -> dict[str, Any]:
    """``item`` as ``{id, input, expected, metadata}`` (an id made when missing); ``ValueError`` when bad."""
    if not isinstance(item, Mapping):
        raise ValueError(f"{where} must be an object with input/expected/metadata, got {type(item).__name__}")
    unknown = sorted(set(item) - set(ITEM_FIELDS))
    if unknown:
        raise ValueError(f"{where} has unknown fields {unknown} (allowed: {', '.join(ITEM_FIELDS)})")
    if "input" not in item:
        raise ValueError(f"{where} has no 'input'")
    item_id = item.get("id")
    if item_id is None or item_id == "":
        item_id = new_id()
    if not isinstance(item_id, str) or len(item_id) > 128:
        raise ValueError(f"{where}: id must be a string of at most 128 characters, got {item_id!r}")
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise ValueError(f"{where}: metadata must be an object, got {type(metadata).__name__}")
    return {
        "id": item_id,
        "input": item["input"],
        "expected": item.get("expected"),
        "metadata": dict(metadata),
    }


def _lock(conn: Connection, name: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%(name)s))", {"name": "dataset:" + name})


def _info(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "description": row.description,
        "metadata": row.metadata or {},
        "version": int(row.version),
        "created_at": float(row.created_at),
        "updated_at": float(row.updated_at),
    }


def _current(version: int) -> Any:
    return and_(
        dataset_items.c.version_added <= version,
        or_(dataset_items.c.version_removed.is_(None), dataset_items.c.version_removed > version),
    )


def _count(conn: Connection, name: str, version: int) -> int:
    query = (
        select(func.count())
        .select_from(dataset_items)
        .where(dataset_items.c.dataset == name, _current(version))
    )
    return int(conn.execute(query).scalar() or 0)


def _next_position(conn: Connection, name: str) -> int:
    query = select(func.max(dataset_items.c.position)).where(dataset_items.c.dataset == name)
    return int(conn.execute(query).scalar() or 0) + 1


def _new_version(conn: Connection, name: str) -> int:
    """Make the next version of dataset ``name`` (locked) and return it."""
    row = conn.execute(select(datasets.c.version).where(datasets.c.name == name)).first()
    if row is None:
        raise LookupError(f"unknown dataset {name!r}")
    return int(row.version) + 1


def _close_version(conn: Connection, name: str, version: int, change: str, now: float) -> dict[str, Any]:
    count = _count(conn, name, version)
    conn.execute(
        insert(dataset_versions).values(
            dataset=name, version=version, item_count=count, change=change[:256], created_at=now
        )
    )
    conn.execute(update(datasets).where(datasets.c.name == name).values(version=version, updated_at=now))
    return {"name": name, "version": version, "item_count": count, "change": change[:256], "created_at": now}


def _insert_items(
    conn: Connection,
    name: str,
    items: list[dict[str, Any]],
    version: int,
    kept: Mapping[str, int] | None = None,
) -> None:
    """Insert ``items`` at ``version``: new ones after the last, edited ones where they were (``kept``)."""
    position = _next_position(conn, name)
    rows = []
    for item in items:
        at = (kept or {}).get(item["id"])
        if at is None:
            at, position = position, position + 1
        rows.append(
            {
                "dataset": name,
                "item_id": item["id"],
                "version_added": version,
                "version_removed": None,
                "position": at,
                "input": item["input"],
                "expected": item["expected"],
                "metadata": item["metadata"],
            }
        )
    if rows:
        conn.execute(insert(dataset_items), rows)


def _checked_items(items: Iterable[Any]) -> list[dict[str, Any]]:
    if isinstance(items, (str, bytes, Mapping)):
        raise ValueError("items must be a list of objects with input/expected/metadata")
    checked = [check_item(item, f"item {index}") for index, item in enumerate(items)]
    seen: set[str] = set()
    for item in checked:
        if item["id"] in seen:
            raise ValueError(f"item id {item['id']!r} is given twice")
        seen.add(item["id"])
    return checked


def create_dataset(
    conn: Connection,
    name: str,
    *,
    description: str = "",
    metadata: Mapping[str, Any] | None = None,
    items: Iterable[Any] = (),
) -> dict[str, Any]:
    """Create dataset ``name`` at version 1 holding ``items``; ``ValueError`` if it exists."""
    _check_name(name)
    if not isinstance(description, str):
        raise ValueError(f"description must be a string, got {type(description).__name__}")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be an object, got {type(metadata).__name__}")
    checked = _checked_items(items)
    _lock(conn, name)
    if conn.execute(select(datasets.c.name).where(datasets.c.name == name)).first() is not None:
        raise ValueError(f"dataset {name!r} already exists")
    now = time.time()
    conn.execute(
        insert(datasets).values(
            name=name, description=description, metadata=dict(metadata or {}), version=1, created_at=now,
            updated_at=now,
        )
    )  # fmt: skip
    _insert_items(conn, name, checked, 1)
    _close_version(conn, name, 1, f"created with {_items(len(checked))}", now)
    return get_dataset(conn, name) or {}


def add_items(conn: Connection, name: str, items: Iterable[Any]) -> dict[str, Any]:
    """Add ``items`` as the next version; returns the version (``name, version, item_count, change``).

    An item whose id the latest version holds replaces it (an edit)."""
    _check_name(name)
    checked = _checked_items(items)
    if not checked:
        raise ValueError("no items to add")
    _lock(conn, name)
    version = _new_version(conn, name)
    latest = version - 1
    ids = [item["id"] for item in checked]
    existing = {
        row.item_id: int(row.position)
        for row in conn.execute(
            select(dataset_items.c.item_id, dataset_items.c.position).where(
                dataset_items.c.dataset == name, dataset_items.c.item_id.in_(ids), _current(latest)
            )
        )
    }
    if existing:
        _close_rows(conn, name, sorted(existing), version)
    _insert_items(conn, name, checked, version, existing)
    added, edited = len(checked) - len(existing), len(existing)
    if edited and not added:
        change = f"edited {_items(edited)}"
    else:
        change = f"added {_items(added)}" + (f", edited {edited}" if edited else "")
    return _close_version(conn, name, version, change, time.time())


def _close_rows(conn: Connection, name: str, item_ids: list[str], version: int) -> None:
    conn.execute(
        update(dataset_items)
        .where(
            dataset_items.c.dataset == name,
            dataset_items.c.item_id.in_(item_ids),
            dataset_items.c.version_removed.is_(None),
        )
        .values(version_removed=version)
    )


def update_item(
    conn: Connection,
    name: str,
    item_id: str,
    *,
    input: Any = _MISSING,  # noqa: A002 - the item's field
    expected: Any = _MISSING,
    metadata: Any = _MISSING,
) -> dict[str, Any]:
    """Edit item ``item_id`` (the fields given; the others kept) as the next version; returns the version."""
    _check_name(name)
    _lock(conn, name)
    version = _new_version(conn, name)
    row = conn.execute(
        select(dataset_items).where(
            dataset_items.c.dataset == name, dataset_items.c.item_id == item_id, _current(version - 1)
        )
    ).first()
    if row is None:
        raise LookupError(f"dataset {name!r} has no item {item_id!r}")
    item = check_item(
        {
            "id": item_id,
            "input": row.input if input is _MISSING else input,
            "expected": row.expected if expected is _MISSING else expected,
            "metadata": (row.metadata or {}) if metadata is _MISSING else metadata,
        }
    )
    _close_rows(conn, name, [item_id], version)
    conn.execute(
        insert(dataset_items).values(
            dataset=name, item_id=item_id, version_added=version, version_removed=None, position=row.position,
            input=item["input"], expected=item["expected"], metadata=item["metadata"],
        )
    )  # fmt: skip
    return _close_version(conn, name, version, f"edited item {item_id}", time.time())


def remove_items(conn: Connection, name: str, item_ids: Iterable[str]) -> dict[str, Any]:
    """Remove items from the next version (older versions keep them); returns the version."""
    _check_name(name)
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        raise ValueError("no item ids to remove")
    _lock(conn, name)
    version = _new_version(conn, name)
    present = {
        row.item_id
        for row in conn.execute(
            select(dataset_items.c.item_id).where(
                dataset_items.c.dataset == name, dataset_items.c.item_id.in_(ids), _current(version - 1)
            )
        )
    }
    missing = [item_id for item_id in ids if item_id not in present]
    if missing:
        raise LookupError(f"dataset {name!r} has no items {missing}")
    _close_rows(conn, name, ids, version)
    return _close_version(conn, name, version, f"removed {_items(len(ids))}", time.time())


def get_dataset(conn: Connection, name: str, *, version: int | None = None) -> dict[str, Any] | None:
    """Dataset ``name`` at ``version`` (default: the latest) with its ``items``; ``None`` if unknown.

    ``LookupError`` when the dataset exists but the version does not."""
    row = conn.execute(select(datasets).where(datasets.c.name == name)).first()
    if row is None:
        return None
    info = _info(row)
    latest = info["version"]
    if version is None:
        version = latest
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= latest:
        raise LookupError(f"dataset {name!r} has versions 1 to {latest}, not {version!r}")
    items = [
        {
            "id": r.item_id,
            "input": r.input,
            "expected": r.expected,
            "metadata": r.metadata or {},
            "version_added": int(r.version_added),
        }
        for r in conn.execute(
            select(dataset_items)
            .where(dataset_items.c.dataset == name, _current(version))
            .order_by(dataset_items.c.position, dataset_items.c.item_id)
        )
    ]
    info["latest_version"] = latest
    info["version"] = version
    info["item_count"] = len(items)
    info["items"] = items
    return info


def list_datasets(conn: Connection) -> list[dict[str, Any]]:
    """Every dataset with its latest ``version`` and that version's ``item_count``, by name."""
    counts = {
        (r.dataset, int(r.version)): int(r.item_count)
        for r in conn.execute(
            select(dataset_versions.c.dataset, dataset_versions.c.version, dataset_versions.c.item_count)
        )
    }
    result = []
    for row in conn.execute(select(datasets).order_by(datasets.c.name)):
        info = _info(row)
        info["item_count"] = counts.get((info["name"], info["version"]), 0)
        result.append(info)
    return result


def list_versions(conn: Connection, name: str) -> list[dict[str, Any]]:
    """The versions of dataset ``name``, oldest first (empty for an unknown dataset)."""
    return [
        {
            "name": r.dataset,
            "version": int(r.version),
            "item_count": int(r.item_count),
            "change": r.change,
            "created_at": float(r.created_at),
        }
        for r in conn.execute(
            select(dataset_versions)
            .where(dataset_versions.c.dataset == name)
            .order_by(dataset_versions.c.version)
        )
    ]
