"""What the dashboard should show for a stored value: the display rules of ``format.js``, in
Python, and readers of the real store to compare the pages with."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["fmt_cost", "fmt_int", "fmt_tokens", "store_run", "store_runs", "store_totals"]


def fmt_int(n: float) -> str:
    return f"{round(n):,}"


def fmt_tokens(n: int) -> str:
    if abs(n) < 10_000:
        return fmt_int(n)
    if abs(n) < 1e6:
        return f"{n / 1e3:.{1 if n < 1e5 else 0}f}k"
    return f"{n / 1e6:.{2 if n < 1e8 else 1}f}M"


def fmt_cost(v: float) -> str:
    if v == 0:
        return "$0"
    if abs(v) < 0.01:  # two significant digits, like Number.toPrecision(2)
        decimals = 1 - math.floor(math.log10(abs(v)))
        return "$" + f"{v:.{decimals}f}".rstrip("0").rstrip(".")
    if abs(v) < 1:
        return "$" + f"{v:.4f}".rstrip("0").rstrip(".")
    if abs(v) < 1000:
        return f"${v:.2f}"
    return f"${round(v):,}"


def _store(url: str) -> Any:
    from waxell_observe.store import get_store

    return get_store(url)


def store_runs(
    url: str, *, order_by: str = "started_at", descending: bool = True, **filters: Any
) -> list[dict[str, Any]]:
    """Runs in the store, newest first unless told otherwise (the read API's default order)."""
    from waxell_observe.store.reader import RunFilter, list_runs

    with _store(url).read() as conn:
        return list_runs(conn, RunFilter(**filters), limit=100_000, order_by=order_by, descending=descending)


def store_run(url: str, run_id: str) -> dict[str, Any]:
    from waxell_observe.store.reader import get_run

    with _store(url).read() as conn:
        run = get_run(conn, run_id)
    assert run is not None, run_id
    return run


def store_totals(url: str, **filters: Any) -> dict[str, Any]:
    runs = store_runs(url, **filters)
    errors = sum(1 for r in runs if r["status"] == "error")
    return {
        "runs": len(runs),
        "tokens": sum(r["total_tokens"] for r in runs),
        "cost": sum(r["total_cost"] for r in runs),
        "errors": errors,
        "error_rate_pct": f"{(errors / len(runs) * 100) if runs else 0:.1f}%",
    }
