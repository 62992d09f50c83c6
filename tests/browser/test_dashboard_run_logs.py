"""The Logs tab of a run in Chromium: log records received over OTLP ``/v1/logs`` for the run, in time
order, filtered by severity; a run without records says where they come from."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dashboard_ui import goto
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _record(run_id: str, seconds: int, severity: int, text: str, body: str) -> dict[str, Any]:
    return {
        "timeUnixNano": str(seconds * 1_000_000_000),
        "severityNumber": severity,
        "severityText": text,
        "body": {"stringValue": body},
        "attributes": [{"key": "waxell_run_id", "value": {"stringValue": run_id}}],
    }


def test_the_logs_tab_lists_a_runs_records_and_filters_by_severity(
    page: Any, dashboard: Any, samples: Any
) -> None:
    run_id = samples.research
    document = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "scope": {"name": "research.tools"},
                        "logRecords": [
                            _record(run_id, 1_700_000_002, 13, "WARN", "rate limited, retrying"),
                            _record(run_id, 1_700_000_001, 9, "INFO", "fetching <b>sources</b>"),
                            _record(run_id, 1_700_000_003, 17, "ERROR", "source 3 unreachable"),
                        ],
                    }
                ]
            }
        ]
    }
    reply = httpx.post(f"{dashboard.url}/v1/logs", json=document, timeout=10)
    assert reply.status_code == 200, reply.text

    goto(page, dashboard, f"/runs/{run_id}?tab=logs")
    rows = page.get_by_test_id("logs-table").locator("tbody tr")
    expect(rows).to_have_count(3)
    assert rows.evaluate_all("rows => rows.map(r => r.cells[3].textContent)") == [
        "fetching <b>sources</b>",  # shown as text, never as markup
        "rate limited, retrying",
        "source 3 unreachable",
    ]
    assert rows.evaluate_all("rows => rows.map(r => r.cells[1].textContent)") == ["INFO", "WARN", "ERROR"]

    page.get_by_test_id("logs-severity").select_option(label="Warnings and above")
    expect(rows).to_have_count(2)
    assert rows.evaluate_all("rows => rows.map(r => r.cells[3].textContent)") == [
        "rate limited, retrying",
        "source 3 unreachable",
    ]


def test_a_run_without_log_records_says_where_they_come_from(page: Any, dashboard: Any, samples: Any) -> None:
    goto(page, dashboard, f"/runs/{samples.child}?tab=logs")
    expect(page.get_by_test_id("logs-table-empty")).to_contain_text("init_tracing()")
