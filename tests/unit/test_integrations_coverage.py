"""docs/integrations-coverage.md against the workspace: every integration package under
integrations/ has a row, every row names an existing package and an existing test file, and every
capture cell starts with a symbol of the page's legend."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "integrations-coverage.md"
COLUMNS = ("library", "package", "calls", "tokens", "cost", "streams", "tools", "errors", "governance")
SYMBOLS = ("✓", "○", "✗", "—")


def _workspace_packages() -> set[str]:
    names = set()
    for pyproject in (ROOT / "integrations").glob("*/pyproject.toml"):
        found = re.search(r'^name = "([^"]+)"', pyproject.read_text(encoding="utf-8"), re.MULTILINE)
        assert found, f"{pyproject} names no project"
        names.add(found.group(1))
    return names


def _rows() -> list[list[str]]:
    text = PAGE.read_text(encoding="utf-8")
    table = text.split("## Coverage", 1)[1]
    rows = []
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith("| library") or line.startswith("|---"):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def test_the_page_has_one_row_per_workspace_integration_package() -> None:
    rows = _rows()
    packages = [re.fullmatch(r"`([a-z0-9-]+)`", row[1]) for row in rows]
    assert all(packages), [row[1] for row in rows]
    listed = [match.group(1) for match in packages if match]
    assert len(listed) == len(set(listed)), "a package has two rows"
    assert set(listed) == _workspace_packages()


def test_every_row_names_an_existing_test_file_and_uses_the_legend() -> None:
    rows = _rows()
    assert rows
    for row in rows:
        assert len(row) == len(COLUMNS) + 1, row
        [test_file] = re.findall(r"`(tests/[^`]+\.py)`", row[-1])
        assert (ROOT / test_file).is_file(), f"{row[0]}: {test_file} does not exist"
        for column, cell in zip(COLUMNS[2:], row[2:-1], strict=True):
            assert cell.startswith(SYMBOLS), f"{row[0]}: {column} cell {cell!r} starts with no legend symbol"
