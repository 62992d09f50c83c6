"""``waxell-observe datasets`` and ``waxell-observe experiments`` on an embedded store (``--db``),
run as real processes: datasets from JSONL and CSV files, versions, export, and the terminal
comparison of two experiments (per-metric deltas, measures, the items that flipped)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import waxell_observe
from waxell_observe import evaluators as ev

COMMAND = str(Path(sys.executable).parent / "waxell-observe")


def cli(db: Path, *args: str, ok: bool = True) -> str:
    done = subprocess.run([COMMAND, *args, "--db", str(db)], capture_output=True, text=True, timeout=60)
    assert (done.returncode == 0) == ok, (done.stdout, done.stderr)
    return done.stdout if ok else done.stderr


def table_rows(out: str) -> list[list[str]]:
    """The body rows of the rich tables in ``out``, as lists of cells."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")
    ]


def test_datasets_from_files_versions_and_export(tmp_path: Path, waxell_db: Path) -> None:
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(
        '{"id": "a", "input": {"x": 1}, "expected": "2"}\n'
        '{"id": "b", "input": {"x": 2}, "expected": "4"}\n'
        "\n"
        '{"id": "c", "input": {"x": 3}, "expected": "6", "metadata": {"hard": true}}\n',
        encoding="utf-8",
    )
    csv_file = tmp_path / "more.csv"
    csv_file.write_text("id,x,expected,level\nd,4,8,easy\ne,5,10,hard\n", encoding="utf-8")

    assert cli(waxell_db, "datasets", "create", "arith", "--file", str(jsonl), "--description", "sums") == (
        "arith version 1: 3 items\n"
    )
    assert cli(waxell_db, "datasets", "add", "arith", "--file", str(csv_file)) == (
        "arith version 2: 5 items (added 2 items)\n"
    )
    assert cli(
        waxell_db, "datasets", "add", "arith", "--item", '{"id": "a", "input": {"x": 1}, "expected": "3"}'
    ) == ("arith version 3: 5 items (edited 1 item)\n")
    assert table_rows(cli(waxell_db, "datasets", "list")) == [["arith", "3", "5", "sums"]]
    shown = cli(waxell_db, "datasets", "show", "arith", "--version", "2")
    assert shown.splitlines()[0] == "arith version 2 of 3: 5 items"
    assert table_rows(shown) == [
        ["a", '{"x": 1}', "2", "{}"],
        ["b", '{"x": 2}', "4", "{}"],
        ["c", '{"x": 3}', "6", '{"hard": true}'],
        ["d", '{"x": "4", "level": "easy"}', "8", "{}"],
        ["e", '{"x": "5", "level": "hard"}', "10", "{}"],
        ["1", "3", "created with 3 items"],
        ["2", "5", "added 2 items"],
        ["3", "5", "edited 1 item"],
    ]
    exported = cli(waxell_db, "datasets", "export", "arith", "--version", "1").splitlines()
    assert [json.loads(line) for line in exported] == [
        {"id": "a", "input": {"x": 1}, "expected": "2", "metadata": {}},
        {"id": "b", "input": {"x": 2}, "expected": "4", "metadata": {}},
        {"id": "c", "input": {"x": 3}, "expected": "6", "metadata": {"hard": True}},
    ]
    assert cli(waxell_db, "datasets", "export", "arith", "--format", "csv").splitlines()[:2] == [
        "id,input,expected,metadata",
        'a,"{""x"": 1}",3,{}',
    ]
    assert (
        cli(waxell_db, "datasets", "create", "arith", ok=False) == "Error: dataset 'arith' already exists\n"
    )
    assert cli(waxell_db, "datasets", "show", "nope", ok=False) == "Error: unknown dataset 'nope'\n"


def double(item_input: dict[str, Any]) -> str:
    return str(int(item_input["x"]) * 2)


def sloppy(item_input: dict[str, Any]) -> str:
    """Off by one on odd x; raises on x = 5."""
    x = int(item_input["x"])
    if x == 5:
        raise ValueError("five")
    return str(x * 2 + x % 2)


def test_experiments_list_show_and_compare_in_the_terminal(waxell_db: Path) -> None:
    items = [{"id": f"i{x}", "input": {"x": x}, "expected": str(2 * x)} for x in range(1, 7)]
    waxell_observe.create_dataset("doubles", items)
    chosen = [ev.exact_match(), ev.contains("1")]
    waxell_observe.evaluate(double, "doubles", chosen, name="good", max_concurrency=1)
    waxell_observe.evaluate(sloppy, "doubles", chosen, name="worse", max_concurrency=1)

    listed = table_rows(cli(waxell_db, "experiments", "list"))
    assert [row[:7] for row in listed] == [
        ["worse", listed[0][1], "doubles v1", "completed", "6", "1", "contains 0.167, exact_match 0.5"],
        ["good", listed[1][1], "doubles v1", "completed", "6", "0", "contains 0.333, exact_match 1"],
    ]
    shown = cli(waxell_db, "experiments", "show", "worse")
    assert "completed: 6 runs, 1 errors" in shown.splitlines()[0]
    assert table_rows(shown)[:2] == [
        ["contains", "0.2", "16.7%", "1/6", "5"],
        ["exact_match", "0.6", "50.0%", "3/6", "5"],
    ]
    assert [row[:4] for row in table_rows(shown)[2:]] == [
        ["i1", "0", "success", "3"],
        ["i2", "0", "success", "4"],
        ["i3", "0", "success", "7"],
        ["i4", "0", "success", "8"],
        ["i5", "0", "error", "five"],
        ["i6", "0", "success", "12"],
    ]

    compared = cli(waxell_db, "experiments", "compare", "good", "worse")
    lines = compared.splitlines()
    assert lines[0].startswith("A: good (") and "B: worse (" in lines[0]
    rows = table_rows(compared)
    assert rows[:2] == [
        ["contains", "0.3333", "0.2", "-0.1333", "33.3%", "16.7%", "-16.7%"],
        ["exact_match", "1", "0.6", "-0.4", "100.0%", "50.0%", "-50.0%"],
    ]
    assert ["errors", "0", "1", "+1"] in rows
    assert ["cost (USD)", "0", "0", "+0"] in rows
    assert "3 items regressed, 0 improved" in lines
    assert rows[-3:] == [
        ["i1", "0", "regressed", "exact_match pass→fail", "2", "3"],
        ["i3", "0", "regressed", "exact_match pass→fail", "6", "7"],
        ["i5", "0", "regressed", "contains pass→fail, exact_match pass→fail", "10", "error: five"],
    ]

    # a CI gate: exit 1 on a pass rate that fell, naming it; a tolerance lets a small dip through
    gate = subprocess.run(
        [
            COMMAND,
            "experiments",
            "compare",
            "good",
            "worse",
            "--json",
            "--fail-on-regression",
            "--db",
            str(waxell_db),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gate.returncode == 1
    assert json.loads(gate.stdout)["regressed"] == ["i1", "i3", "i5"]
    assert gate.stderr.splitlines() == [
        "regression: contains: pass rate 16.7% regressed from 33.3% in the baseline",
        "regression: exact_match: pass rate 50.0% regressed from 100.0% in the baseline",
    ]
    tolerated = cli(
        waxell_db, "experiments", "compare", "good", "worse", "--fail-on-regression", "--tolerance", "0.5"
    )
    assert "3 items regressed, 0 improved" in tolerated
    assert "regression" not in cli(
        waxell_db, "experiments", "compare", "worse", "good", "--fail-on-regression"
    )
