"""Datasets from Python: :class:`Dataset` (one version of a dataset), :func:`create_dataset`,
:func:`get_dataset`, :func:`list_datasets`, and reading items from JSONL or CSV files.

A :class:`Dataset` is a snapshot: its ``items`` are exactly what its ``version`` holds. Changing
it (``add_items``, ``update_item``, ``remove_items``) stores the next version and returns that
version as a new :class:`Dataset`; the old snapshot is unchanged and stays readable with
``get_dataset(name, version=...)``. Datasets live where runs go (see
:mod:`waxell_observe.evaluation.backends`): the embedded store, or a control plane when
``api_url`` is configured.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from waxell_observe.evaluation.backends import EvaluationBackend, current_backend

__all__ = ["Dataset", "DatasetItem", "create_dataset", "get_dataset", "list_datasets", "read_items"]

_RESERVED_COLUMNS = ("id", "input", "expected", "metadata")


@dataclass(frozen=True)
class DatasetItem:
    """One item: what the task is given (``input``), what a right answer is (``expected``) and
    anything else (``metadata``)."""

    id: str
    input: Any
    expected: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": self.input,
            "expected": self.expected,
            "metadata": dict(self.metadata),
        }


class Dataset:
    """One version of a stored dataset (see the module doc)."""

    def __init__(self, data: Mapping[str, Any], backend: EvaluationBackend) -> None:
        self.name: str = str(data["name"])
        self.version: int = int(data["version"])
        self.latest_version: int = int(data.get("latest_version", data["version"]))
        self.description: str = str(data.get("description") or "")
        self.metadata: dict[str, Any] = dict(data.get("metadata") or {})
        self.items: tuple[DatasetItem, ...] = tuple(
            DatasetItem(str(i["id"]), i.get("input"), i.get("expected"), dict(i.get("metadata") or {}))
            for i in data.get("items") or []
        )
        self._backend = backend

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, version={self.version}, items={len(self.items)})"

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[DatasetItem]:
        return iter(self.items)

    @overload
    def __getitem__(self, key: int) -> DatasetItem: ...
    @overload
    def __getitem__(self, key: str) -> DatasetItem: ...
    def __getitem__(self, key: int | str) -> DatasetItem:
        """An item by position, or by id."""
        if isinstance(key, str):
            for item in self.items:
                if item.id == key:
                    return item
            raise KeyError(f"dataset {self.name!r} version {self.version} has no item {key!r}")
        return self.items[key]

    def _reload(self, version: int | None) -> Dataset:
        return get_dataset(self.name, version, backend=self._backend)

    def add_items(self, items: Iterable[Mapping[str, Any]] | str | os.PathLike[str]) -> Dataset:
        """Store ``items`` (dicts, or a JSONL/CSV file) as the next version and return it.

        An item whose ``id`` a current item has replaces that item."""
        given = read_items(items) if isinstance(items, (str, os.PathLike)) else [dict(i) for i in items]
        version = self._backend.add_items(self.name, given)
        return self._reload(int(version["version"]))

    def update_item(self, item_id: str, **fields: Any) -> Dataset:
        """Edit item ``item_id`` (``input=``, ``expected=``, ``metadata=``) as the next version."""
        unknown = sorted(set(fields) - {"input", "expected", "metadata"})
        if unknown or not fields:
            raise ValueError(f"update_item takes input=, expected= and/or metadata= (got {sorted(fields)})")
        version = self._backend.update_item(self.name, item_id, fields)
        return self._reload(int(version["version"]))

    def remove_items(self, item_ids: Iterable[str]) -> Dataset:
        """Remove items from the next version and return it."""
        version = self._backend.remove_items(self.name, list(item_ids))
        return self._reload(int(version["version"]))

    def at_version(self, version: int) -> Dataset:
        """This dataset as ``version`` held it."""
        return self._reload(version)

    def latest(self) -> Dataset:
        """The latest version of this dataset."""
        return self._reload(None)

    def versions(self) -> list[dict[str, Any]]:
        """Every version: ``{name, version, item_count, change, created_at}``, oldest first."""
        return self._backend.list_versions(self.name)

    def to_jsonl(self, path: str | os.PathLike[str]) -> Path:
        """Write this version's items as JSON lines (``{id, input, expected, metadata}``)."""
        target = Path(path)
        with target.open("w", encoding="utf-8") as out:
            for item in self.items:
                out.write(json.dumps(item.as_dict(), ensure_ascii=False) + "\n")
        return target


def create_dataset(
    name: str,
    items: Iterable[Mapping[str, Any]] | str | os.PathLike[str] = (),
    *,
    description: str = "",
    metadata: Mapping[str, Any] | None = None,
    client: Any = None,
    backend: EvaluationBackend | None = None,
) -> Dataset:
    """Create dataset ``name`` (version 1) from ``items``: dicts ``{input, expected, metadata, id}``
    or the path of a JSONL or CSV file (see :func:`read_items`). ``ValueError`` when it exists.

    ``client``: a :class:`~waxell_observe.WaxellObserveClient` to store it on that control plane
    (default: where the configuration sends runs)."""
    given = read_items(items) if isinstance(items, (str, os.PathLike)) else [dict(i) for i in items]
    store = backend or current_backend(client)
    return Dataset(store.create_dataset(name, description, dict(metadata or {}), given), store)


def get_dataset(
    name: str, version: int | None = None, *, client: Any = None, backend: EvaluationBackend | None = None
) -> Dataset:
    """Dataset ``name`` at ``version`` (default: latest). ``LookupError`` when it does not exist."""
    store = backend or current_backend(client)
    found = store.get_dataset(name, version)
    if found is None:
        raise LookupError(f"unknown dataset {name!r}")
    return Dataset(found, store)


def list_datasets(*, client: Any = None, backend: EvaluationBackend | None = None) -> list[dict[str, Any]]:
    """Every dataset: ``{name, description, metadata, version, item_count, created_at, updated_at}``."""
    return (backend or current_backend(client)).list_datasets()


def read_items(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Items from a file: ``.jsonl`` (one JSON object ``{input, expected, metadata, id}`` a line;
    blank lines skipped) or ``.csv`` (a header row; see below). ``ValueError`` naming the line.

    CSV: the columns ``id``, ``input``, ``expected`` and ``metadata`` are the item's fields (a cell
    holding a JSON object or list is decoded, and ``metadata`` must be one); without an ``input``
    column the input is an object of every other column. Other columns go to ``metadata``."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(file)
    if suffix == ".csv":
        return _read_csv(file)
    raise ValueError(f"{file}: give a .jsonl or .csv file (got {suffix or 'no extension'})")


def _read_jsonl(file: Path) -> list[dict[str, Any]]:
    items = []
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{file}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(item, dict):
                raise ValueError(f"{file}:{number}: expected an object {{input, expected, metadata}}")
            items.append(item)
    return items


def _cell(value: str) -> Any:
    text = value.strip()
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return value
    return value


def _read_csv(file: Path) -> list[dict[str, Any]]:
    items = []
    with file.open(encoding="utf-8", newline="") as rows:
        reader = csv.DictReader(rows)
        columns: Sequence[str] = reader.fieldnames or ()
        if not columns:
            raise ValueError(f"{file}: no header row")
        others = [c for c in columns if c not in _RESERVED_COLUMNS]
        for number, row in enumerate(reader, 2):
            item: dict[str, Any] = {}
            if row.get("id"):
                item["id"] = row["id"]
            extra = {c: row[c] for c in others if row.get(c) not in (None, "")}
            if "input" in columns:
                item["input"] = _cell(row.get("input") or "")
            else:
                item["input"], extra = extra, {}
            if "expected" in columns and row.get("expected") not in (None, ""):
                item["expected"] = _cell(row["expected"] or "")
            metadata = _cell(row.get("metadata") or "") if row.get("metadata") else {}
            if not isinstance(metadata, dict):
                raise ValueError(
                    f"{file}:{number}: metadata must be a JSON object, got {row.get('metadata')!r}"
                )
            metadata.update(extra)
            if metadata:
                item["metadata"] = metadata
            items.append(item)
    return items
