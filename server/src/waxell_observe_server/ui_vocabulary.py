"""``ui/static/js/vocabulary.js``: the vocabulary the dashboard shows (run statuses, span kinds, policy
actions, phases and categories), generated from :func:`waxell_observe.vocabulary.for_dashboard` so the
JavaScript keeps no copy of its own.

Regenerate with ``python -m waxell_observe_server.ui_vocabulary``; ``tests/server/test_ui_vocabulary.py``
fails while the file differs from the vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

from waxell_observe.vocabulary import for_dashboard

__all__ = ["VOCABULARY_JS", "render", "write"]

VOCABULARY_JS = Path(__file__).resolve().parent / "ui" / "static" / "js" / "vocabulary.js"


def render() -> str:
    """The content of :data:`VOCABULARY_JS`."""
    body = json.dumps(for_dashboard(), indent=2, ensure_ascii=False)
    return (
        "// @ts-check\n"
        "// Generated from waxell_observe.vocabulary.for_dashboard() by\n"
        "// `python -m waxell_observe_server.ui_vocabulary`: do not edit.\n\n"
        f"export const VOCABULARY = {body};\n"
    )


def write(path: Path = VOCABULARY_JS) -> bool:
    """Write :func:`render` to ``path``; returns whether the file changed."""
    content = render()
    if path.exists() and path.read_text(encoding="utf-8") == content:
        return False
    path.write_text(content, encoding="utf-8")
    return True


if __name__ == "__main__":
    print(f"{VOCABULARY_JS}: {'written' if write() else 'up to date'}")
