"""Datasets, experiments and evaluator scores on the server (``docs/wire-protocol.md``, "Evaluations").

``router`` (under ``/api/v1/observe/``) is what the SDK writes and reads through
(``waxell_observe.client.evaluations``); ``read_router`` (under ``/api/v1/read/``) is what the CLI
and the dashboard read, including the comparison of two experiments. Both run the store's own
functions (``waxell_observe.store.datasets`` / ``experiments``): bad input is a 422 naming the
problem, an unknown dataset, version or experiment a 404, creating a dataset that exists a 409.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import Field

from waxell_observe.evaluation.compare import compare_experiments
from waxell_observe.store import datasets, experiments
from waxell_observe_server.limits import MAX_INT
from waxell_observe_server.sanitize import clean_json, clean_text
from waxell_observe_server.wire_models import _Body

__all__ = ["router", "read_router"]

router = APIRouter(tags=["evaluations"])
read_router = APIRouter(tags=["evaluations"])

T = TypeVar("T")
_MAX_ITEMS = 10_000


class DatasetBody(_Body):
    """``POST datasets/``."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str | None, Field(max_length=10_000)] = ""
    metadata: dict[str, Any] | None = None
    items: Annotated[list[Any] | None, Field(max_length=_MAX_ITEMS)] = None


class ItemsBody(_Body):
    """``POST datasets/{name}/items/``."""

    items: Annotated[list[Any], Field(min_length=1, max_length=_MAX_ITEMS)]


class RemoveItemsBody(_Body):
    """``POST datasets/{name}/items/remove/``."""

    item_ids: Annotated[list[str], Field(min_length=1, max_length=_MAX_ITEMS)]


class ExperimentBody(_Body):
    """``POST experiments/``."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    experiment_id: Annotated[str | None, Field(max_length=64)] = ""
    dataset: Annotated[str | None, Field(max_length=256)] = ""
    dataset_version: Annotated[int | None, Field(ge=0, le=MAX_INT)] = 0
    metadata: dict[str, Any] | None = None


class ResultsBody(_Body):
    """``POST experiments/{id}/results/``."""

    results: Annotated[list[Any], Field(min_length=1, max_length=_MAX_ITEMS)]


class FinishBody(_Body):
    """``POST experiments/{id}/finish/``."""

    summary: dict[str, Any]


class ScoresBody(_Body):
    """``POST runs/{run_id}/evaluation-scores/``."""

    scores: Annotated[list[Any], Field(min_length=1, max_length=_MAX_ITEMS)]
    source: Annotated[str, Field(min_length=1, max_length=32)]


@contextmanager
def _answers() -> Iterator[None]:
    """The store's ``ValueError`` as 422 (409 for a name taken), ``LookupError`` as 404."""
    try:
        yield
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except ValueError as exc:
        status = 409 if "already exists" in str(exc) else 422
        raise HTTPException(status_code=status, detail=str(exc)) from None


def _write(request: Request, action: Callable[[Any], T]) -> T:
    with _answers(), request.app.state.writer.write() as conn:
        return action(conn)


def _read(request: Request, action: Callable[[Any], T]) -> T:
    with _answers(), request.app.state.store.read() as conn:
        return action(conn)


def _dataset(request: Request, name: str, version: int | None) -> dict[str, Any]:
    found = _read(request, lambda conn: datasets.get_dataset(conn, clean_text(name), version=version))
    if found is None:
        raise HTTPException(status_code=404, detail=f"unknown dataset {name!r}")
    return found


def _experiment(request: Request, ref: str) -> dict[str, Any]:
    found = _read(request, lambda conn: experiments.get_experiment(conn, clean_text(ref)))
    if found is None:
        raise HTTPException(status_code=404, detail=f"unknown experiment {ref!r}")
    return found


# -- the SDK's side (/api/v1/observe/) -------------------------------------------------------------


@router.post("/datasets/", status_code=201)
def create_dataset(body: DatasetBody, request: Request) -> dict[str, Any]:
    """Create a dataset at version 1; the dataset with its items."""
    return _write(
        request,
        lambda conn: datasets.create_dataset(
            conn, clean_text(body.name), description=clean_text(body.description or ""),
            metadata=clean_json(body.metadata or {}), items=clean_json(body.items or []),
        ),
    )  # fmt: skip


@router.get("/datasets/")
def list_datasets(request: Request) -> dict[str, Any]:
    """``{"datasets": [...]}``: every dataset with its latest version and item count."""
    return {"datasets": _read(request, datasets.list_datasets)}


@router.get("/datasets/{name}/")
def read_dataset(
    name: str, request: Request, version: int | None = Query(default=None, ge=1, le=MAX_INT)
) -> dict[str, Any]:
    """The dataset at ``version`` (default: latest) with its items."""
    return _dataset(request, name, version)


@router.get("/datasets/{name}/versions/")
def dataset_versions(name: str, request: Request) -> dict[str, Any]:
    """``{"versions": [...]}``, oldest first."""
    _dataset(request, name, None)
    return {"versions": _read(request, lambda conn: datasets.list_versions(conn, clean_text(name)))}


@router.post("/datasets/{name}/items/", status_code=201)
def add_items(name: str, body: ItemsBody, request: Request) -> dict[str, Any]:
    """Add items (an item with the id of a current one replaces it) as the next version."""
    return _write(request, lambda conn: datasets.add_items(conn, clean_text(name), clean_json(body.items)))


@router.patch("/datasets/{name}/items/{item_id}/")
def update_item(name: str, item_id: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
    """Edit one item's ``input``, ``expected`` and/or ``metadata`` as the next version."""
    unknown = sorted(set(body) - {"input", "expected", "metadata"})
    if unknown or not body:
        raise HTTPException(
            status_code=422, detail=f"give input, expected and/or metadata (got {sorted(body)})"
        )
    fields = {key: clean_json(value) for key, value in body.items()}
    return _write(
        request, lambda conn: datasets.update_item(conn, clean_text(name), clean_text(item_id), **fields)
    )


@router.post("/datasets/{name}/items/remove/")
def remove_items(name: str, body: RemoveItemsBody, request: Request) -> dict[str, Any]:
    """Remove items from the next version (older versions keep them)."""
    ids = [clean_text(item_id) for item_id in body.item_ids]
    return _write(request, lambda conn: datasets.remove_items(conn, clean_text(name), ids))


@router.post("/experiments/", status_code=201)
def create_experiment(body: ExperimentBody, request: Request) -> dict[str, Any]:
    """Start an experiment (``running``); the same ``experiment_id`` twice is one experiment."""
    return _write(
        request,
        lambda conn: experiments.create_experiment(
            conn, clean_text(body.name), experiment_id=clean_text(body.experiment_id or "") or None,
            dataset=clean_text(body.dataset or ""), dataset_version=body.dataset_version or 0,
            metadata=clean_json(body.metadata or {}),
        ),
    )  # fmt: skip


@router.post("/experiments/{experiment_id}/results/")
def add_results(experiment_id: str, body: ResultsBody, request: Request) -> dict[str, Any]:
    """Store result rows and their scores (on their runs, source ``experiment``): ``{"stored": n}``."""
    stored = _write(
        request,
        lambda conn: experiments.add_results(conn, clean_text(experiment_id), clean_json(body.results)),
    )
    return {"stored": stored}


@router.post("/experiments/{experiment_id}/finish/")
def finish_experiment(experiment_id: str, body: FinishBody, request: Request) -> dict[str, Any]:
    """Mark the experiment ``completed`` with its aggregates."""
    _write(
        request,
        lambda conn: experiments.finish_experiment(conn, clean_text(experiment_id), clean_json(body.summary)),
    )
    return {"experiment_id": experiment_id, "status": "completed"}


@router.get("/experiments/")
def list_experiments(
    request: Request, dataset: str | None = Query(default=None, max_length=256)
) -> dict[str, Any]:
    """``{"experiments": [...]}``, newest first."""
    found = _read(
        request,
        lambda conn: experiments.list_experiments(conn, dataset=clean_text(dataset) if dataset else None),
    )
    return {"experiments": found}


@router.get("/experiments/{ref}/")
def read_experiment(ref: str, request: Request) -> dict[str, Any]:
    """An experiment (by id, or by name: the latest of that name) with its results."""
    return _experiment(request, ref)


@router.post("/runs/{run_id}/evaluation-scores/")
def add_scores(run_id: str, body: ScoresBody, request: Request) -> dict[str, Any]:
    """Scores an evaluator gave a run (``source``: ``experiment`` or ``online``): ``{"stored": n}``."""
    rows = _write(
        request,
        lambda conn: experiments.add_scores(
            conn, clean_text(run_id), clean_json(body.scores), source=body.source
        ),
    )
    return {"stored": len(rows)}


# -- the read API (/api/v1/read/): the CLI and the dashboard ----------------------------------------


@read_router.get("/datasets/")
def read_list_datasets(request: Request) -> dict[str, Any]:
    """``{"datasets": [...]}`` (as ``GET /api/v1/observe/datasets/``)."""
    return list_datasets(request)


@read_router.get("/datasets/{name}/")
def read_dataset_detail(
    name: str, request: Request, version: int | None = Query(default=None, ge=1, le=MAX_INT)
) -> dict[str, Any]:
    """The dataset at ``version`` with its items, its ``versions`` and its ``experiments``."""
    found = _dataset(request, name, version)
    found["versions"] = _read(request, lambda conn: datasets.list_versions(conn, found["name"]))
    found["experiments"] = _read(
        request, lambda conn: experiments.list_experiments(conn, dataset=found["name"])
    )
    return found


@read_router.get("/experiments/")
def read_list_experiments(
    request: Request, dataset: str | None = Query(default=None, max_length=256)
) -> dict[str, Any]:
    """``{"experiments": [...]}``, newest first (of ``dataset`` when given)."""
    return list_experiments(request, dataset)


@read_router.get("/experiments/compare/")
def read_compare(
    request: Request,
    a: str = Query(min_length=1, max_length=256),
    b: str = Query(min_length=1, max_length=256),
) -> dict[str, Any]:
    """The comparison of experiments ``a`` (baseline) and ``b`` (candidate): see
    ``waxell_observe.evaluation.compare.compare_experiments``."""
    return compare_experiments(_experiment(request, a), _experiment(request, b))


@read_router.get("/experiments/{ref}/")
def read_experiment_detail(ref: str, request: Request) -> dict[str, Any]:
    """An experiment with its results (as ``GET /api/v1/observe/experiments/{ref}/``)."""
    return _experiment(request, ref)
