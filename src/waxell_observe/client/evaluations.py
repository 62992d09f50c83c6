"""The client's dataset and experiment methods (``datasets/``, ``experiments/`` of our server).

Unlike the wire-protocol methods these are strict, as data operations should be: a 400/422
answer raises ``ValueError`` and a 404 ``LookupError`` (each with the server's explanation); any
other failure raises :class:`~waxell_observe.transport.errors.ControlPlaneError`. Every method
is a coroutine with a blocking ``_sync`` twin taking keyword arguments only.
"""

from __future__ import annotations

from typing import Any

from waxell_observe.client.base import ClientBase
from waxell_observe.client.builders import segment
from waxell_observe.client.loop import run_sync
from waxell_observe.transport.errors import ControlPlaneError

__all__ = ["EvaluationMethods"]

_MISSING: Any = object()


def _dataset_path(name: str, tail: str = "") -> str:
    return f"datasets/{segment(name, 'dataset name')}/{tail}"


class EvaluationMethods(ClientBase):
    async def _evaluation_call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            return await self.request(method, path, json_body=body, params=params)
        except ControlPlaneError as exc:
            if exc.status == 404:
                raise LookupError(exc.detail or str(exc)) from exc
            if exc.status in (400, 409, 422):
                raise ValueError(exc.detail or str(exc)) from exc
            raise

    # -- datasets ---------------------------------------------------------------------------------

    async def create_dataset(
        self,
        name: str,
        *,
        description: str = "",
        metadata: dict[str, Any] | None = None,
        items: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """POST ``datasets/``: create dataset ``name`` (version 1) holding ``items``."""
        body = {"name": name, "description": description, "metadata": metadata or {}, "items": items or []}
        return await self._evaluation_call("POST", "datasets/", body)

    def create_dataset_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`create_dataset` (keyword arguments only)."""
        return run_sync(self.create_dataset(**kwargs))

    async def get_dataset(self, name: str, *, version: int | None = None) -> dict[str, Any] | None:
        """GET ``datasets/{name}/``: the dataset at ``version`` (default: latest) with its items;
        ``None`` when the dataset is unknown (``LookupError`` for an unknown version)."""
        params = {"version": str(version)} if version is not None else None
        try:
            return await self._evaluation_call("GET", _dataset_path(name), params=params)
        except LookupError as exc:
            if "unknown dataset" in str(exc):
                return None
            raise

    def get_dataset_sync(self, **kwargs: Any) -> dict[str, Any] | None:
        """Blocking :meth:`get_dataset` (keyword arguments only)."""
        return run_sync(self.get_dataset(**kwargs))

    async def list_datasets(self) -> list[dict[str, Any]]:
        """GET ``datasets/``: every dataset with its latest version and item count."""
        return list((await self._evaluation_call("GET", "datasets/")).get("datasets", []))

    def list_datasets_sync(self) -> list[dict[str, Any]]:
        """Blocking :meth:`list_datasets`."""
        return run_sync(self.list_datasets())

    async def list_dataset_versions(self, name: str) -> list[dict[str, Any]]:
        """GET ``datasets/{name}/versions/``: the dataset's versions, oldest first."""
        return list(
            (await self._evaluation_call("GET", _dataset_path(name, "versions/"))).get("versions", [])
        )

    def list_dataset_versions_sync(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Blocking :meth:`list_dataset_versions` (keyword arguments only)."""
        return run_sync(self.list_dataset_versions(**kwargs))

    async def add_dataset_items(self, name: str, *, items: list[dict[str, Any]]) -> dict[str, Any]:
        """POST ``datasets/{name}/items/``: add (or, by id, replace) items as the next version."""
        return await self._evaluation_call("POST", _dataset_path(name, "items/"), {"items": items})

    def add_dataset_items_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`add_dataset_items` (keyword arguments only)."""
        return run_sync(self.add_dataset_items(**kwargs))

    async def update_dataset_item(
        self,
        name: str,
        item_id: str,
        *,
        input: Any = _MISSING,  # noqa: A002 - the item's field
        expected: Any = _MISSING,
        metadata: Any = _MISSING,
    ) -> dict[str, Any]:
        """PATCH ``datasets/{name}/items/{item_id}/``: edit the fields given, as the next version."""
        body = {
            key: value
            for key, value in (("input", input), ("expected", expected), ("metadata", metadata))
            if value is not _MISSING
        }
        path = _dataset_path(name, f"items/{segment(item_id, 'item_id')}/")
        return await self._evaluation_call("PATCH", path, body)

    def update_dataset_item_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`update_dataset_item` (keyword arguments only)."""
        return run_sync(self.update_dataset_item(**kwargs))

    async def remove_dataset_items(self, name: str, *, item_ids: list[str]) -> dict[str, Any]:
        """POST ``datasets/{name}/items/remove/``: remove items from the next version."""
        return await self._evaluation_call(
            "POST", _dataset_path(name, "items/remove/"), {"item_ids": item_ids}
        )

    def remove_dataset_items_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`remove_dataset_items` (keyword arguments only)."""
        return run_sync(self.remove_dataset_items(**kwargs))

    # -- experiments ------------------------------------------------------------------------------

    async def create_experiment(
        self,
        *,
        name: str,
        experiment_id: str = "",
        dataset: str = "",
        dataset_version: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST ``experiments/``: start an experiment (``running``)."""
        body = {
            "name": name,
            "experiment_id": experiment_id,
            "dataset": dataset,
            "dataset_version": dataset_version,
            "metadata": metadata or {},
        }
        return await self._evaluation_call("POST", "experiments/", body)

    def create_experiment_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`create_experiment` (keyword arguments only)."""
        return run_sync(self.create_experiment(**kwargs))

    async def add_experiment_results(self, *, experiment_id: str, results: list[dict[str, Any]]) -> int:
        """POST ``experiments/{id}/results/``: store result rows and their scores; returns how many."""
        path = f"experiments/{segment(experiment_id, 'experiment_id')}/results/"
        return int((await self._evaluation_call("POST", path, {"results": results})).get("stored", 0))

    def add_experiment_results_sync(self, **kwargs: Any) -> int:
        """Blocking :meth:`add_experiment_results` (keyword arguments only)."""
        return run_sync(self.add_experiment_results(**kwargs))

    async def finish_experiment(self, *, experiment_id: str, summary: dict[str, Any]) -> None:
        """POST ``experiments/{id}/finish/``: mark it ``completed`` with its aggregates."""
        path = f"experiments/{segment(experiment_id, 'experiment_id')}/finish/"
        await self._evaluation_call("POST", path, {"summary": summary})

    def finish_experiment_sync(self, **kwargs: Any) -> None:
        """Blocking :meth:`finish_experiment` (keyword arguments only)."""
        run_sync(self.finish_experiment(**kwargs))

    async def get_experiment(self, *, ref: str) -> dict[str, Any] | None:
        """GET ``experiments/{ref}/`` (an id, or a name: the latest of that name) with its results;
        ``None`` when unknown."""
        try:
            return await self._evaluation_call("GET", f"experiments/{segment(ref, 'experiment')}/")
        except LookupError:
            return None

    def get_experiment_sync(self, **kwargs: Any) -> dict[str, Any] | None:
        """Blocking :meth:`get_experiment` (keyword arguments only)."""
        return run_sync(self.get_experiment(**kwargs))

    async def list_experiments(self, *, dataset: str | None = None) -> list[dict[str, Any]]:
        """GET ``experiments/``: experiments, newest first (of ``dataset`` when given)."""
        params = {"dataset": dataset} if dataset else None
        return list(
            (await self._evaluation_call("GET", "experiments/", params=params)).get("experiments", [])
        )

    def list_experiments_sync(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Blocking :meth:`list_experiments` (keyword arguments only)."""
        return run_sync(self.list_experiments(**kwargs))

    async def add_scores(self, *, run_id: str, scores: list[dict[str, Any]], source: str) -> int:
        """POST ``runs/{run_id}/evaluation-scores/``: scores an evaluator gave the run (``source``
        ``experiment`` or ``online``); returns how many were stored."""
        path = f"runs/{segment(run_id, 'run_id')}/evaluation-scores/"
        return int(
            (await self._evaluation_call("POST", path, {"scores": scores, "source": source})).get("stored", 0)
        )

    def add_scores_sync(self, **kwargs: Any) -> int:
        """Blocking :meth:`add_scores` (keyword arguments only)."""
        return run_sync(self.add_scores(**kwargs))
