"""Datasets and experiments in the store, on SQLite and on PostgreSQL: versions read back exactly,
edits keep ids, bad input is named, concurrent writers each make their own version, and a store
made before ``scores.source`` existed gets the column."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from waxell_observe.evaluation import create_dataset, evaluate, get_dataset, list_datasets
from waxell_observe.evaluation.backends import LocalBackend
from waxell_observe.store import Store, datasets, experiments
from waxell_observe.store.schema import scores


def items_of(dataset: dict) -> list[tuple[str, object, object]]:
    return [(i["id"], i["input"], i["expected"]) for i in dataset["items"]]


def test_every_change_makes_a_version_and_each_version_reads_back_exactly(any_store_url: str) -> None:
    store = Store(any_store_url)
    with store.write() as conn:
        created = datasets.create_dataset(
            conn, "qa", description="questions", metadata={"owner": "me"},
            items=[{"id": "a", "input": {"q": "1+1"}, "expected": "2"}, {"id": "b", "input": "hi"}],
        )  # fmt: skip
    assert (created["version"], created["item_count"], created["description"]) == (1, 2, "questions")
    with store.write() as conn:
        v2 = datasets.add_items(
            conn, "qa", [{"id": "c", "input": 3, "expected": [3]}, {"id": "a", "input": {"q": "2+2"}}]
        )
    assert v2 == {**v2, "version": 2, "item_count": 3, "change": "added 1 item, edited 1"}
    with store.write() as conn:
        v3 = datasets.update_item(conn, "qa", "b", expected="hello", metadata={"tone": "warm"})
        v4 = datasets.remove_items(conn, "qa", ["c"])
    assert (v3["version"], v3["change"], v4["version"], v4["item_count"]) == (3, "edited item b", 4, 2)
    with store.read() as conn:
        history = [items_of(datasets.get_dataset(conn, "qa", version=v)) for v in (1, 2, 3, 4)]
        latest = datasets.get_dataset(conn, "qa")
        versions = datasets.list_versions(conn, "qa")
        listed = datasets.list_datasets(conn)
    assert history == [
        [("a", {"q": "1+1"}, "2"), ("b", "hi", None)],
        [("a", {"q": "2+2"}, None), ("b", "hi", None), ("c", 3, [3])],
        [("a", {"q": "2+2"}, None), ("b", "hi", "hello"), ("c", 3, [3])],
        [("a", {"q": "2+2"}, None), ("b", "hi", "hello")],
    ]
    assert latest["version"] == latest["latest_version"] == 4
    assert latest["items"][1]["metadata"] == {"tone": "warm"}
    assert [(v["version"], v["item_count"]) for v in versions] == [(1, 2), (2, 3), (3, 3), (4, 2)]
    assert [(d["name"], d["version"], d["item_count"], d["metadata"]) for d in listed] == [
        ("qa", 4, 2, {"owner": "me"})
    ]


def test_bad_input_and_unknown_names_are_named(any_store_url: str) -> None:
    store = Store(any_store_url)
    with store.write() as conn:
        datasets.create_dataset(conn, "qa", items=[{"id": "a", "input": 1}])

    def make(items: list) -> Callable[[Any], Any]:
        return lambda c: datasets.create_dataset(c, "x", items=items)

    cases: list[tuple[Callable[[Any], Any], type[Exception], str]] = [
        (lambda c: datasets.create_dataset(c, "qa"), ValueError, "dataset 'qa' already exists"),
        (lambda c: datasets.create_dataset(c, ""), ValueError, "dataset name must be a non-empty string"),
        (make([{"expected": 1}]), ValueError, "item 0 has no 'input'"),
        (make([{"input": 1, "answer": 2}]), ValueError, "unknown fields ['answer']"),
        (make([{"id": "z", "input": 1}, {"id": "z", "input": 2}]), ValueError, "item id 'z' is given twice"),
        (make([{"input": 1, "metadata": [1]}]), ValueError, "metadata must be an object"),
        (lambda c: datasets.add_items(c, "nope", [{"input": 1}]), LookupError, "unknown dataset 'nope'"),
        (lambda c: datasets.add_items(c, "qa", []), ValueError, "no items to add"),
        (
            lambda c: datasets.update_item(c, "qa", "zz", input=1),
            LookupError,
            "dataset 'qa' has no item 'zz'",
        ),
        (
            lambda c: datasets.remove_items(c, "qa", ["a", "zz"]),
            LookupError,
            "dataset 'qa' has no items ['zz']",
        ),
        (lambda c: datasets.get_dataset(c, "qa", version=2), LookupError, "has versions 1 to 1, not 2"),
        (
            lambda c: experiments.add_results(c, "no", [{"item_id": "a"}]),
            LookupError,
            "unknown experiment 'no'",
        ),
    ]
    for action, error, message in cases:
        with pytest.raises(error) as caught, store.write() as conn:
            action(conn)
        assert message in str(caught.value)
    with store.read() as conn:
        assert items_of(datasets.get_dataset(conn, "qa")) == [("a", 1, None)]  # nothing half-written
        assert datasets.get_dataset(conn, "nope") is None


def test_concurrent_writers_each_make_their_own_version(any_store_url: str) -> None:
    store = Store(any_store_url)
    with store.write() as conn:
        datasets.create_dataset(conn, "busy")
    made: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for k in range(5):
            with store.write() as conn:
                version = datasets.add_items(conn, "busy", [{"id": f"w{n}-{k}", "input": k}])["version"]
            with lock:
                made.append(version)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(made) == list(range(2, 22))
    with store.read() as conn:
        assert [v["item_count"] for v in datasets.list_versions(conn, "busy")] == list(range(0, 21))
        assert len(datasets.get_dataset(conn, "busy")["items"]) == 20


def test_results_and_scores_are_stored_once_even_when_delivered_twice(any_store_url: str) -> None:
    store = Store(any_store_url)
    result = {
        "item_id": "a", "repetition": 0, "run_id": "run-1", "status": "success", "output": "x",
        "scores": [
            {"id": "s1", "name": "exact_match", "value": True},
            {"id": "s2", "name": "len", "value": 3},
        ],
    }  # fmt: skip
    with store.write() as conn:
        experiment = experiments.create_experiment(conn, "e", experiment_id="exp-1")
        assert experiments.create_experiment(conn, "e", experiment_id="exp-1") == experiment
        experiments.add_results(conn, "exp-1", [result])
        experiments.add_results(conn, "exp-1", [result])
        experiments.add_scores(
            conn, "run-1", [{"id": "s3", "name": "online", "value": "good"}], source="online"
        )
    with store.read() as conn:
        stored = experiments.get_experiment(conn, "exp-1")
        rows = conn.execute(
            select(scores.c.name, scores.c.source, scores.c.numeric_value).order_by(scores.c.id)
        ).all()
    assert len(stored["results"]) == 1
    assert [tuple(r) for r in rows] == [
        ("exact_match", "experiment", 1.0),
        ("len", "experiment", 3.0),
        ("online", "online", None),
    ]


def test_an_older_store_gets_the_source_of_scores(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE scores (id VARCHAR(64) PRIMARY KEY, run_id VARCHAR(64) NOT NULL, "
            "name VARCHAR(256) NOT NULL, data_type VARCHAR(16) NOT NULL, numeric_value FLOAT, "
            "string_value TEXT, comment TEXT NOT NULL, "
            "created_at FLOAT NOT NULL)"
        )
        old.execute("INSERT INTO scores VALUES ('s', 'r', 'helpful', 'numeric', 0.5, NULL, '', 1.0)")
    store = Store(f"sqlite:///{path}")
    with store.read() as conn:
        assert conn.execute(select(scores.c.name, scores.c.source, scores.c.passed)).all() == [
            ("helpful", "sdk", None)
        ]


def test_python_datasets_from_files_pinned_versions_and_evaluate_at_a_version(
    tmp_path: Path, any_store_url: str
) -> None:
    backend = LocalBackend(any_store_url)
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(
        '{"id": "a", "input": "one", "expected": "1"}\n\n'
        '{"input": {"n": 2}, "expected": "2", "metadata": {"k": 1}}\n'
    )
    csv_file = tmp_path / "items.csv"
    csv_file.write_text('id,question,expected,metadata\nc,three,3,"{""level"": ""easy""}"\nd,four,4,\n')
    dataset = create_dataset("numbers", jsonl, backend=backend, description="digits")
    assert [(i.id, i.input, i.expected, i.metadata) for i in dataset][0] == ("a", "one", "1", {})
    assert dataset[1].input == {"n": 2} and dataset[1].metadata == {"k": 1} and len(dataset) == 2
    bigger = dataset.add_items(csv_file)
    assert (dataset.version, len(dataset), bigger.version, len(bigger)) == (1, 2, 2, 4)
    assert [(i.id, i.input, i.expected, i.metadata) for i in bigger.items[2:]] == [
        ("c", {"question": "three"}, "3", {"level": "easy"}),
        ("d", {"question": "four"}, "4", {}),
    ]
    edited = bigger.update_item("a", expected="one!")
    assert edited["a"].expected == "one!" and bigger["a"].expected == "1"
    assert [v["version"] for v in edited.versions()] == [1, 2, 3]
    assert get_dataset("numbers", 1, backend=backend)["a"].expected == "1"
    assert [d["item_count"] for d in list_datasets(backend=backend)] == [4]
    exported = edited.to_jsonl(tmp_path / "out.jsonl")
    assert (
        exported.read_text().splitlines()[0]
        == '{"id": "a", "input": "one", "expected": "one!", "metadata": {}}'
    )

    same = [lambda output, expected: output == expected]
    pinned = evaluate(lambda x: "1", "numbers", same, dataset_version=1, name="pinned", backend=backend)
    assert (pinned.dataset_version, len(pinned.rows), pinned.metric("lambda").passed) == (1, 2, 1)
    latest = evaluate(
        lambda x: "1", edited, [lambda output, expected: output == expected], name="latest", backend=backend
    )
    assert (latest.dataset_version, len(latest.rows), latest.metric("lambda").passed) == (3, 4, 0)
    with pytest.raises(ValueError, match=r"give a \.jsonl or \.csv file"):
        create_dataset("bad", tmp_path / "items.txt", backend=backend)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"input": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"broken.jsonl:2: not valid JSON"):
        create_dataset("bad", broken, backend=backend)
