"""Datasets and experiments through a real server on 127.0.0.1 (``waxell-observe serve``), on
SQLite and PostgreSQL: the SDK configured with ``api_url`` creates and edits a dataset, runs an
experiment whose runs, rows and scores land on the server, and the read API, the CLI
(``--api-url``) and the comparison answer from there. Also the endpoints' answers to bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import waxell_observe
from waxell_observe import evaluators as ev
from waxell_observe.client import WaxellObserveClient
from waxell_observe.evaluation import compare_experiments, get_dataset, get_experiment

OBSERVE = "/api/v1/observe"
READ = "/api/v1/read"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "evaluations.db")
    return str(request.getfixturevalue("postgres_url"))


def cli(*args: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "waxell-observe"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_sdk_works_against_a_server(db: str, serve_process: Callable[..., Any]) -> None:
    server = serve_process(db)
    WaxellObserveClient.configure(api_url=server.url, api_key="")
    dataset = waxell_observe.create_dataset(
        "capitals",
        [
            {"id": "fr", "input": {"country": "France"}, "expected": "Paris"},
            {"id": "de", "input": {"country": "Germany"}, "expected": "Berlin"},
            {"id": "it", "input": {"country": "Italy"}, "expected": "Rome"},
        ],
        description="capitals of Europe",
    )
    assert (dataset.version, len(dataset)) == (1, 3)
    v2 = dataset.update_item("it", expected="Roma").add_items(
        [{"id": "es", "input": {"country": "Spain"}, "expected": "Madrid"}]
    )
    assert (v2.version, [i.id for i in v2]) == (3, ["fr", "de", "it", "es"])
    assert get_dataset("capitals", 1)["it"].expected == "Rome"
    with pytest.raises(ValueError, match="dataset 'capitals' already exists"):
        waxell_observe.create_dataset("capitals", [])
    with pytest.raises(LookupError, match="unknown dataset 'atlantis'"):
        get_dataset("atlantis")

    answers = {"France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid"}
    first = waxell_observe.evaluate(lambda x: answers[x["country"]], dataset, [ev.exact_match()], name="v1")
    second = waxell_observe.evaluate(lambda x: answers[x["country"]], v2, [ev.exact_match()], name="v3")
    assert [r.error for r in first.rows] == [""] * 3, first.rows
    assert (first.pass_rate("exact_match"), second.pass_rate("exact_match")) == (1.0, 0.75)
    waxell_observe.flush_sync(timeout=30)

    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        listed = http.get(f"{READ}/datasets/").json()["datasets"]
        assert [(d["name"], d["version"], d["item_count"]) for d in listed] == [("capitals", 3, 4)]
        detail = http.get(f"{READ}/datasets/capitals/", params={"version": 2}).json()
        assert [(i["id"], i["expected"]) for i in detail["items"]] == [
            ("fr", "Paris"),
            ("de", "Berlin"),
            ("it", "Roma"),
        ]
        assert [v["change"] for v in detail["versions"]] == [
            "created with 3 items",
            "edited item it",
            "added 1 item",
        ]
        assert [e["name"] for e in detail["experiments"]] == ["v3", "v1"]
        stored = http.get(f"{READ}/experiments/v3/").json()
        assert [(r["item_id"], r["output"], r["expected"]) for r in stored["results"]][2] == (
            "it",
            "Rome",
            "Roma",
        )
        run = http.get(f"{READ}/runs/{stored['results'][0]['run_id']}/").json()
        assert run["agent_name"] == "experiment:v3" and run["status"] == "success"
        assert [(s["name"], s["value"], s["source"]) for s in run["scores"]] == [
            ("exact_match", True, "experiment")
        ]
        compared = http.get(f"{READ}/experiments/compare/", params={"a": "v1", "b": "v3"}).json()
    assert compared == json.loads(json.dumps(compare_experiments(get_experiment("v1"), get_experiment("v3"))))
    assert compared["metrics"][0]["pass_rate_delta"] == -0.25

    out = cli("experiments", "compare", "v1", "v3", "--api-url", server.url)
    assert "exact_match" in out and "-25.0%" in out and "1 item regressed, 0 improved" in out
    assert "capitals" in cli("datasets", "list", "--api-url", server.url)
    exported = cli("datasets", "export", "capitals", "--version", "1", "--api-url", server.url).splitlines()
    assert json.loads(exported[2]) == {
        "id": "it",
        "input": {"country": "Italy"},
        "expected": "Rome",
        "metadata": {},
    }


def test_the_endpoints_answer_bad_input_with_what_is_wrong(
    db: str, serve_process: Callable[..., Any]
) -> None:
    server = serve_process(db)
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        assert (
            http.post(
                f"{OBSERVE}/datasets/", json={"name": "d", "items": [{"id": "a", "input": 1}]}
            ).status_code
            == 201
        )
        cases = [
            ("post", "datasets/", {"name": "d"}, 409, "dataset 'd' already exists"),
            ("post", "datasets/", {"name": "e", "items": [{"expected": 1}]}, 422, "item 0 has no 'input'"),
            ("post", "datasets/", {"items": []}, 422, "name"),
            ("post", "datasets/nope/items/", {"items": [{"input": 1}]}, 404, "unknown dataset 'nope'"),
            ("patch", "datasets/d/items/zz/", {"input": 2}, 404, "dataset 'd' has no item 'zz'"),
            ("patch", "datasets/d/items/a/", {"answer": 2}, 422, "give input, expected and/or metadata"),
            ("get", "datasets/d/?version=7", None, 404, "dataset 'd' has versions 1 to 1, not 7"),
            ("post", "experiments/no/results/", {"results": [{"item_id": "a"}]},
             404, "unknown experiment 'no'"),
            ("post", "runs/r/evaluation-scores/", {"scores": [{"name": "s", "value": [1]}], "source": "sdk"},
             422, "value must be a bool, a number or a string"),
            ("post", "runs/r/evaluation-scores/", {"scores": [{"name": "s", "value": 1}], "source": "api"},
             422, "score source must be one of sdk, experiment, online"),
        ]  # fmt: skip
        for method, path, body, status, message in cases:
            answer = http.request(method.upper(), f"{OBSERVE}/{path}", json=body)
            assert answer.status_code == status, (path, answer.text)
            assert message in answer.text, (path, answer.text)
        assert http.get(f"{READ}/experiments/nope/").status_code == 404


def test_online_scores_go_to_the_server_the_run_went_to(db: str, serve_process: Callable[..., Any]) -> None:
    server = serve_process(db)
    WaxellObserveClient.configure(api_url=server.url, api_key="")
    online = waxell_observe.add_online_evaluator("greeter", lambda output: output.startswith("Hello"))

    @waxell_observe.observe(agent_name="greeter")
    def greet(name: str) -> str:
        return f"Hello {name}" if name != "x" else "?"

    try:
        greet("Ada")
        greet("x")
        assert waxell_observe.evaluation.flush_online_evaluations(30)
    finally:
        online.remove()
    waxell_observe.flush_sync(timeout=30)
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        found = http.get(f"{READ}/runs/", params={"agent_name": "greeter"}).json()["runs"]
        details = [http.get(f"{READ}/runs/{r['run_id']}/").json() for r in found]
    scored = sorted(
        (run["inputs"]["name"], [(s["name"], s["value"], s["source"]) for s in run["scores"]])
        for run in details
    )
    assert scored == [("Ada", [("lambda", True, "online")]), ("x", [("lambda", False, "online")])]
