"""The dashboard's vocabulary.js is what the vocabulary module says.

Regenerate it with ``python -m waxell_observe_server.ui_vocabulary``.
"""

from __future__ import annotations

from waxell_observe_server.ui_vocabulary import VOCABULARY_JS, render

from waxell_observe import vocabulary


def test_the_dashboard_vocabulary_is_generated_from_the_vocabulary_module() -> None:
    assert VOCABULARY_JS.read_text(encoding="utf-8") == render(), (
        "python -m waxell_observe_server.ui_vocabulary"
    )
    assert "export const VOCABULARY = " in render()
    for status in vocabulary.RUN_STATUSES:
        assert f'"{status}"' in render()


def test_the_runs_page_takes_its_statuses_from_it() -> None:
    runs_page = (VOCABULARY_JS.parent / "pages" / "runs.js").read_text(encoding="utf-8")
    assert 'import { VOCABULARY } from "../vocabulary.js";' in runs_page
    assert "export const STATUSES = VOCABULARY.run_statuses;" in runs_page
