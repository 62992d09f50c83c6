"""docs/context.md documents every public name of ``WaxellContext`` (issue 14: each name the
reference SDK has must be described where users look)."""

from __future__ import annotations

import re
from pathlib import Path

from waxell_observe import WaxellContext

DOC = Path(__file__).resolve().parents[2] / "docs" / "context.md"


def test_every_public_name_of_waxell_context_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = sorted(n for n in dir(WaxellContext) if not n.startswith("_"))
    missing = [n for n in names if not re.search(rf"`(?:await )?{n}\b", text)]
    assert missing == []
