"""``waxell-observe experiments``: list, show and compare experiments.

Works on the embedded store (``--db``, else ``WAXELL_DB``) or on a control plane (``--api-url``).
``compare A B`` prints per-metric deltas (B - A), the measures (cost, tokens, latency, errors) and
the items that flipped between passing and failing; with ``--fail-on-regression`` it exits 1 when a
score's pass rate fell (a CI gate).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from waxell_observe.cli._api import api_options
from waxell_observe.cli._evaluation import backend_for, call, console, echo_json, number, short
from waxell_observe.cli._store import db_option
from waxell_observe.records import short_id

__all__ = ["command"]


@click.group("experiments")
def command() -> None:
    """Experiments: a task run over a dataset, scored by evaluators."""


def _when(epoch: float | None) -> str:
    if not epoch:
        return ""
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _experiment(backend: Any, ref: str) -> dict[str, Any]:
    found = call(lambda: backend.get_experiment(ref))
    if found is None:
        raise click.ClickException(f"unknown experiment {ref!r}")
    return dict(found)


@command.command("list")
@click.option("--dataset", default=None, help="Only experiments on this dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
@api_options
def list_(dataset: str | None, as_json: bool, db: str | None, api_url: str, api_key: str) -> None:
    """List experiments, newest first."""
    backend = backend_for(db, api_url, api_key)
    found = call(lambda: backend.list_experiments(dataset))
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("no experiments")
        return
    table = Table("experiment", "id", "dataset", "status", "runs", "errors", "metrics", "started")
    for e in found:
        summary = e.get("summary") or {}
        metrics = ", ".join(
            f"{name} {number(m.get('pass_rate'), 3)}" for name, m in (summary.get("metrics") or {}).items()
        )
        dataset_label = f"{e['dataset']} v{e['dataset_version']}" if e["dataset"] else "(inline)"
        table.add_row(
            e["name"], short_id(e["experiment_id"]), dataset_label, e["status"],
            str(e.get("result_count", "")),
            str(summary.get("errors", "")), short(metrics, 80), _when(e["created_at"]),
        )  # fmt: skip
    console().print(table)


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table("metric", "mean", "pass rate", "passed", "scores")
    runs = summary.get("runs", 0)
    for name, m in (summary.get("metrics") or {}).items():
        table.add_row(
            name, number(m["mean"]), f"{m['pass_rate']:.1%}", f"{m['passed']}/{runs}", str(m["count"])
        )
    return table


@command.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the experiment with its results as JSON.")
@db_option
@api_options
def show(ref: str, as_json: bool, db: str | None, api_url: str, api_key: str) -> None:
    """Show experiment REF (an id, or a name: the latest of that name): aggregates and rows."""
    experiment = _experiment(backend_for(db, api_url, api_key), ref)
    if as_json:
        echo_json(experiment)
        return
    summary = experiment.get("summary") or {}
    out = console()
    dataset = (
        f"{experiment['dataset']} v{experiment['dataset_version']}"
        if experiment["dataset"]
        else "inline items"
    )
    out.print(
        f"[bold]{experiment['name']}[/bold] ({experiment['experiment_id']}) on {dataset}, "
        f"{experiment['status']}: {summary.get('runs', 0)} runs, {summary.get('errors', 0)} errors, "
        f"cost ${summary.get('cost', 0.0):.6f}, "
        f"tokens {summary.get('tokens_in', 0)}+{summary.get('tokens_out', 0)}, latency p50 "
        f"{summary.get('latency_p50_ms', 0.0):.1f} ms p95 {summary.get('latency_p95_ms', 0.0):.1f} ms"
    )
    out.print(_summary_table(summary))
    rows = Table("item", "rep", "status", "output", "scores", "cost", "ms", "run")
    for r in experiment.get("results") or []:
        scores = ", ".join(f"{s['name']}={short(s['value'], 12)}" for s in r["scores"])
        output = r["error"] if r["status"] == "error" else r["output"]
        rows.add_row(
            short(r["item_id"], 16), str(r["repetition"]), _status(r["status"]), short(output, 50),
            short(scores, 60), f"{r['cost']:.6f}", f"{r['latency_ms']:.0f}", short_id(r["run_id"]),
        )  # fmt: skip
    out.print(rows)


def _status(status: str) -> Text:
    return Text(status, style="green" if status == "success" else "red")


def _delta(value: float | None, *, higher_is_better: bool, percent: bool = False) -> Text:
    if value is None:
        return Text("-")
    shown = f"{value:+.1%}" if percent else f"{value:+.4g}"
    if value == 0:
        return Text(shown)
    better = (value > 0) == higher_is_better
    return Text(shown, style="green" if better else "red")


@command.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--all-items", is_flag=True, help="List every item, not only those that flipped.")
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit with status 1 when a score's pass rate in B fell below A's by more than --tolerance (for CI).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="How far below A's pass rate B may fall without counting as a regression.",
)
@db_option
@api_options
def compare(
    a: str, b: str, as_json: bool, all_items: bool, fail_on_regression: bool, tolerance: float,
    db: str | None, api_url: str, api_key: str,
) -> None:  # fmt: skip
    """Compare experiment B with experiment A (the baseline): deltas are B - A."""
    from waxell_observe.evaluation.compare import compare_experiments

    backend = backend_for(db, api_url, api_key)
    comparison = compare_experiments(_experiment(backend, a), _experiment(backend, b))
    if as_json:
        echo_json(comparison)
    else:
        _print_comparison(comparison, all_items)
    if fail_on_regression:
        from waxell_observe.evaluation.results import baseline_regressions

        found = baseline_regressions(
            comparison["b"]["summary"], comparison["a"]["summary"], tolerance=tolerance
        )
        for regression in found:
            click.echo(f"regression: {regression}", err=True)
        if found:
            raise click.exceptions.Exit(1)


def _print_comparison(comparison: dict[str, Any], all_items: bool) -> None:
    out = console()
    head_a, head_b = comparison["a"], comparison["b"]
    out.print(
        f"A: [bold]{head_a['name']}[/bold] ({short_id(head_a['experiment_id'])})   "
        f"B: [bold]{head_b['name']}[/bold] ({short_id(head_b['experiment_id'])})"
    )
    metrics = Table("metric", "A mean", "B mean", "Δ mean", "A pass", "B pass", "Δ pass")
    for m in comparison["metrics"]:
        metrics.add_row(
            m["name"], number(m["a_mean"]), number(m["b_mean"]),
            _delta(m["mean_delta"], higher_is_better=True),
            "-" if m["a_pass_rate"] is None else f"{m['a_pass_rate']:.1%}",
            "-" if m["b_pass_rate"] is None else f"{m['b_pass_rate']:.1%}",
            _delta(m["pass_rate_delta"], higher_is_better=True, percent=True),
        )  # fmt: skip
    out.print(metrics)
    measures = Table("measure", "A", "B", "Δ")
    for m in comparison["measures"]:
        measures.add_row(
            m["label"], number(m["a"], 6), number(m["b"], 6), _delta(m["delta"], higher_is_better=False)
        )
    out.print(measures)
    items = Table("item", "rep", "change", "flips", "A output", "B output")
    shown = 0
    for item in comparison["items"]:
        if not (all_items or item["flips"]):
            continue
        shown += 1
        change = _change(item["flips"])
        flips = ", ".join(
            f"{f['metric']} {'pass' if f['a'] else 'fail'}→{'pass' if f['b'] else 'fail'}"
            for f in item["flips"]
        )
        items.add_row(
            short(item["item_id"], 16), str(item["repetition"]), change, short(flips, 60),
            short(_output(item["a"]), 40), short(_output(item["b"]), 40),
        )  # fmt: skip
    regressed, improved = len(comparison["regressed"]), len(comparison["improved"])
    out.print(f"{regressed} item{'' if regressed == 1 else 's'} regressed, {improved} improved")
    if shown:
        out.print(items)


def _change(flips: list[dict[str, Any]]) -> Text:
    worse = any(f["a"] and not f["b"] for f in flips)
    better = any(f["b"] and not f["a"] for f in flips)
    if worse and better:
        return Text("mixed", style="yellow")
    if worse:
        return Text("regressed", style="red")
    return Text("improved", style="green") if better else Text("")


def _output(side: dict[str, Any] | None) -> Any:
    if side is None:
        return "(not run)"
    return f"error: {side['error']}" if side["status"] == "error" else side["output"]
