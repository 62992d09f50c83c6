"""Where datasets and experiments live: the embedded store, or a control plane.

:func:`current_backend` picks, like the runs do: a control plane when ``api_url`` is configured
(:class:`RemoteBackend`, through :class:`~waxell_observe.WaxellObserveClient`), else the embedded
store of the configuration's ``db_url`` (:class:`LocalBackend`; SQLite or PostgreSQL). Both speak
the same dictionaries (the store's, ``store/datasets.py`` and ``store/experiments.py``) and raise
``ValueError`` for bad input and ``LookupError`` for an unknown dataset, version or experiment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["EvaluationBackend", "LocalBackend", "RemoteBackend", "current_backend"]


class EvaluationBackend(Protocol):
    """What datasets, experiments and evaluators need from where they are stored."""

    def create_dataset(
        self, name: str, description: str, metadata: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]: ...

    def add_items(self, name: str, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]: ...

    def update_item(self, name: str, item_id: str, fields: Mapping[str, Any]) -> dict[str, Any]: ...

    def remove_items(self, name: str, item_ids: Sequence[str]) -> dict[str, Any]: ...

    def get_dataset(self, name: str, version: int | None) -> dict[str, Any] | None: ...

    def list_datasets(self) -> list[dict[str, Any]]: ...

    def list_versions(self, name: str) -> list[dict[str, Any]]: ...

    def create_experiment(
        self, experiment_id: str, name: str, dataset: str, dataset_version: int, metadata: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    def add_results(self, experiment_id: str, results: Sequence[Mapping[str, Any]]) -> None: ...

    def finish_experiment(self, experiment_id: str, summary: Mapping[str, Any]) -> None: ...

    def get_experiment(self, ref: str) -> dict[str, Any] | None: ...

    def list_experiments(self, dataset: str | None) -> list[dict[str, Any]]: ...

    def add_scores(self, run_id: str, scores: Sequence[Mapping[str, Any]], source: str) -> None: ...


class LocalBackend:
    """The embedded store at ``url`` (a SQLAlchemy URL)."""

    def __init__(self, url: str) -> None:
        from waxell_observe.store import get_store

        self.url = url
        self.store = get_store(url)

    def __repr__(self) -> str:
        return f"LocalBackend({self.url!r})"

    def create_dataset(
        self, name: str, description: str, metadata: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        from waxell_observe.store import datasets

        with self.store.write() as conn:
            return datasets.create_dataset(
                conn, name, description=description, metadata=metadata, items=items
            )

    def add_items(self, name: str, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        from waxell_observe.store import datasets

        with self.store.write() as conn:
            return datasets.add_items(conn, name, items)

    def update_item(self, name: str, item_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        from waxell_observe.store import datasets

        with self.store.write() as conn:
            return datasets.update_item(conn, name, item_id, **fields)

    def remove_items(self, name: str, item_ids: Sequence[str]) -> dict[str, Any]:
        from waxell_observe.store import datasets

        with self.store.write() as conn:
            return datasets.remove_items(conn, name, item_ids)

    def get_dataset(self, name: str, version: int | None) -> dict[str, Any] | None:
        from waxell_observe.store import datasets

        with self.store.read() as conn:
            return datasets.get_dataset(conn, name, version=version)

    def list_datasets(self) -> list[dict[str, Any]]:
        from waxell_observe.store import datasets

        with self.store.read() as conn:
            return datasets.list_datasets(conn)

    def list_versions(self, name: str) -> list[dict[str, Any]]:
        from waxell_observe.store import datasets

        with self.store.read() as conn:
            return datasets.list_versions(conn, name)

    def create_experiment(
        self, experiment_id: str, name: str, dataset: str, dataset_version: int, metadata: Mapping[str, Any]
    ) -> dict[str, Any]:
        from waxell_observe.store import experiments

        with self.store.write() as conn:
            return experiments.create_experiment(
                conn, name, experiment_id=experiment_id, dataset=dataset, dataset_version=dataset_version,
                metadata=metadata,
            )  # fmt: skip

    def add_results(self, experiment_id: str, results: Sequence[Mapping[str, Any]]) -> None:
        from waxell_observe.store import experiments

        with self.store.write() as conn:
            experiments.add_results(conn, experiment_id, results)

    def finish_experiment(self, experiment_id: str, summary: Mapping[str, Any]) -> None:
        from waxell_observe.store import experiments

        with self.store.write() as conn:
            experiments.finish_experiment(conn, experiment_id, summary)

    def get_experiment(self, ref: str) -> dict[str, Any] | None:
        from waxell_observe.store import experiments

        with self.store.read() as conn:
            return experiments.get_experiment(conn, ref)

    def list_experiments(self, dataset: str | None) -> list[dict[str, Any]]:
        from waxell_observe.store import experiments

        with self.store.read() as conn:
            return experiments.list_experiments(conn, dataset=dataset)

    def add_scores(self, run_id: str, scores: Sequence[Mapping[str, Any]], source: str) -> None:
        from waxell_observe.store import experiments

        with self.store.write() as conn:
            experiments.add_scores(conn, run_id, scores, source=source)


class RemoteBackend:
    """A control plane, through ``client`` (a :class:`~waxell_observe.WaxellObserveClient`).

    A 400/422 answer becomes ``ValueError``, a 404 ``LookupError`` (with the server's detail);
    other failures raise :class:`~waxell_observe.client.ControlPlaneError`."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"RemoteBackend({self.client.config.api_url!r})"

    def create_dataset(
        self, name: str, description: str, metadata: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        return dict(
            self.client.create_dataset_sync(
                name=name, description=description, metadata=dict(metadata), items=list(items)
            )
        )

    def add_items(self, name: str, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return dict(self.client.add_dataset_items_sync(name=name, items=list(items)))

    def update_item(self, name: str, item_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.client.update_dataset_item_sync(name=name, item_id=item_id, **fields))

    def remove_items(self, name: str, item_ids: Sequence[str]) -> dict[str, Any]:
        return dict(self.client.remove_dataset_items_sync(name=name, item_ids=list(item_ids)))

    def get_dataset(self, name: str, version: int | None) -> dict[str, Any] | None:
        found = self.client.get_dataset_sync(name=name, version=version)
        return dict(found) if found is not None else None

    def list_datasets(self) -> list[dict[str, Any]]:
        return list(self.client.list_datasets_sync())

    def list_versions(self, name: str) -> list[dict[str, Any]]:
        return list(self.client.list_dataset_versions_sync(name=name))

    def create_experiment(
        self, experiment_id: str, name: str, dataset: str, dataset_version: int, metadata: Mapping[str, Any]
    ) -> dict[str, Any]:
        return dict(
            self.client.create_experiment_sync(
                experiment_id=experiment_id, name=name, dataset=dataset, dataset_version=dataset_version,
                metadata=dict(metadata),
            )
        )  # fmt: skip

    def add_results(self, experiment_id: str, results: Sequence[Mapping[str, Any]]) -> None:
        self.client.add_experiment_results_sync(experiment_id=experiment_id, results=list(results))

    def finish_experiment(self, experiment_id: str, summary: Mapping[str, Any]) -> None:
        self.client.finish_experiment_sync(experiment_id=experiment_id, summary=dict(summary))

    def get_experiment(self, ref: str) -> dict[str, Any] | None:
        found = self.client.get_experiment_sync(ref=ref)
        return dict(found) if found is not None else None

    def list_experiments(self, dataset: str | None) -> list[dict[str, Any]]:
        return list(self.client.list_experiments_sync(dataset=dataset))

    def add_scores(self, run_id: str, scores: Sequence[Mapping[str, Any]], source: str) -> None:
        self.client.add_scores_sync(run_id=run_id, scores=list(scores), source=source)


def current_backend(client: Any = None) -> EvaluationBackend:
    """The control plane of ``client`` or of the configuration when it has an ``api_url``, else the
    configuration's embedded store."""
    from waxell_observe.config import get_config

    if client is not None:
        return RemoteBackend(client) if client.config.api_url else LocalBackend(client.config.db_url)
    config = get_config()
    if config.api_url:
        from waxell_observe.client import WaxellObserveClient

        return RemoteBackend(WaxellObserveClient.from_config(config))
    return LocalBackend(config.db_url)
