"""The vocabulary module is the one place the contract's names are defined; everything else derives."""

from __future__ import annotations

import re
from pathlib import Path

from waxell_observe import vocabulary
from waxell_observe.vocabulary import attributes, rows

ROOT = Path(__file__).resolve().parents[2]
VOCABULARY = ROOT / "src" / "waxell_observe" / "vocabulary"

# Names under "waxell." that are not OpenTelemetry attributes, with where they live and why.
NOT_ATTRIBUTES = {
    ("src/waxell_observe/store/rollup_sql.py", "waxell.rollups"),  # a PostgreSQL session setting
}

FILE_SUFFIXES = (".db", ".json", ".jsonl", ".yaml", ".yml", ".toml", ".log")
"""File names such as ``waxell.db`` are not attribute names."""

_LITERAL = re.compile(r"""f?["'](waxell\.[A-Za-z0-9_.{}]*)""")


def _python_files() -> list[Path]:
    roots = [
        ROOT / "src",
        ROOT / "server" / "src",
        *sorted((ROOT / "plugins").glob("*/src")),
        *sorted((ROOT / "integrations").glob("*/src")),
    ]
    return [path for root in roots for path in sorted(root.rglob("*.py"))]


def test_every_waxell_attribute_name_is_spelled_only_in_the_vocabulary() -> None:
    found = []
    for path in _python_files():
        if VOCABULARY in path.parents:
            continue
        relative = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for name in _LITERAL.findall(line):
                if (relative, name) not in NOT_ATTRIBUTES and not name.endswith(FILE_SUFFIXES):
                    found.append(f"{relative}:{number}: {name}")
    assert found == [], "use waxell_observe.vocabulary.attributes instead:\n" + "\n".join(found)


def test_attribute_names_are_unique_and_namespaced() -> None:
    names = {k: v for k, v in vars(attributes).items() if k.isupper() and isinstance(v, str)}
    assert all(value.startswith(attributes.NAMESPACE) for value in names.values())
    values = [v for k, v in names.items() if k != "NAMESPACE"]
    assert len(values) == len(set(values))
    assert attributes.span_attribute_prefix("tool") == "waxell.tool."


def test_policy_categories_come_from_one_table() -> None:
    from waxell_observe.governance import models
    from waxell_observe.governance.decider import STATEFUL_CATEGORIES

    assert models.CATEGORIES == vocabulary.POLICY_CATEGORY_NAMES
    assert tuple(models.POLICY_CLASSES) == vocabulary.POLICY_CATEGORY_NAMES
    assert tuple(models.RULE_MODELS) == vocabulary.POLICY_CATEGORY_NAMES
    assert (
        STATEFUL_CATEGORIES
        == vocabulary.STATEFUL_POLICY_CATEGORIES
        == {"budget", "rate-limit", "kill-switch"}
    )
    # phases, or gate surfaces other than the three that are phases
    places = set(vocabulary.POLICY_PHASES) | (
        set(vocabulary.GATE_SURFACES) - set(vocabulary.SURFACE_OF_PHASE.values())
    )
    assert all(set(c.phases) <= places and c.phases for c in vocabulary.POLICY_CATEGORIES)
    from waxell_observe.governance.rules import EVALUATORS

    assert {name: cls.phases for name, cls in EVALUATORS.items()} == vocabulary.POLICY_CATEGORY_PHASES
    assert len(vocabulary.POLICY_CATEGORIES) == 31
    assert all(alias not in vocabulary.POLICY_CATEGORY_NAMES for alias in vocabulary.POLICY_CATEGORY_ALIASES)
    assert set(vocabulary.POLICY_CATEGORY_ALIASES.values()) <= set(vocabulary.POLICY_CATEGORY_NAMES)
    assert vocabulary.canonical_category(" NET ") == "network"
    assert vocabulary.canonical_category("tool_allowlist") == "tool-allowlist"


def test_the_governance_docs_have_a_section_per_category_in_table_order() -> None:
    text = (ROOT / "docs" / "governance.md").read_text(encoding="utf-8")
    sections = re.findall(r"^### `([a-z-]+)`", text, flags=re.MULTILINE)
    assert tuple(sections) == vocabulary.POLICY_CATEGORY_NAMES


def test_the_policy_format_page_lists_every_category_in_table_order() -> None:
    text = (ROOT / "docs" / "policy-format.md").read_text(encoding="utf-8")
    table = text.split("## Categories", 1)[1]
    rows = re.findall(r"^\| `([a-z-]+)` \|", table, flags=re.MULTILINE)
    assert tuple(rows) == vocabulary.POLICY_CATEGORY_NAMES
    stateful = re.search(
        r"^`([a-z-]+)`, `([a-z-]+)` and `([a-z-]+)` keep counters", table, flags=re.MULTILINE
    )
    assert stateful is not None and set(stateful.groups()) == vocabulary.STATEFUL_POLICY_CATEGORIES


def test_run_statuses_span_kinds_actions_and_phases_are_the_vocabulary_s() -> None:
    from waxell_observe import policy_gate, records, run
    from waxell_observe.governance import request, results
    from waxell_observe.transport import wire

    assert run.RUN_STATUSES == vocabulary.RUN_STATUSES
    assert frozenset(vocabulary.SPAN_KINDS) == records.SPAN_KINDS
    assert tuple(wire.WIRE_SPAN_KINDS) == vocabulary.SPAN_KINDS
    assert results.ACTIONS == vocabulary.POLICY_ACTIONS
    assert request.PHASES == policy_gate.PHASES == vocabulary.POLICY_PHASES


def test_the_dashboard_table_is_json_ready() -> None:
    import json

    table = vocabulary.for_dashboard()
    assert json.loads(json.dumps(table)) == table
    assert [c["name"] for c in table["policy_categories"]] == list(vocabulary.POLICY_CATEGORY_NAMES)
    assert table["run_statuses"] == ["running", "success", "error", "blocked", "interrupted"]


def test_policy_rows() -> None:
    row = rows.policy_audit_row(
        ts=1.0,
        run_id="r",
        agent_name="a",
        workflow_name="w",
        policy_name="p",
        category="budget",
        action="block",
        reason="over",
        phase="pre_execution",
        metadata=None,
    )
    assert row == {
        "ts": 1.0,
        "run_id": "r",
        "agent_name": "a",
        "workflow_name": "w",
        "event": "policy_decision",
        "policy_name": "p",
        "category": "budget",
        "action": "block",
        "reason": "over",
        "phase": "pre_execution",
        "metadata": {},
    }
    attrs = rows.policy_span_attributes(
        policy_name="p", action="warn", category="llm", reason="r", phase="mid_execution", priority=100
    )
    assert "metadata" not in attrs and attrs["priority"] == 100
    assert [rows.policy_span_status(a) for a in ("block", "throttle", "warn")] == ["error", "error", "ok"]


def test_the_cli_knows_every_run_status() -> None:
    from waxell_observe.cli import render, runs

    assert set(render._STATUS_STYLE) == set(vocabulary.RUN_STATUSES)
    status_option = next(p for p in runs.command.params if p.name == "status")
    assert list(status_option.type.choices) == ["", *vocabulary.RUN_STATUSES]  # type: ignore[attr-defined]
