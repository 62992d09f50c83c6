"""Running a provider SDK imported only after ``init()``, in a fresh interpreter.

The lazy-integration contract: a library imported after ``init()`` is captured exactly like one
imported before. :func:`run_late_import` runs ``init(instrument=[library])``, checks the SDK is not
imported yet, then runs the caller's program (which imports the SDK and calls it inside a
``WaxellContext`` named ``ctx``), flushes, and answers ``{"lazy": bool, "run_id": str}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

__all__ = ["run_late_import"]

_PROLOGUE = """\
import json, sys
from waxell_observe.initialization import init
from waxell_observe import WaxellContext, flush_sync
init(instrument=[{library!r}])
lazy = {module!r} not in sys.modules
"""

_EPILOGUE = """
flush_sync(timeout=30)
print(json.dumps({"lazy": lazy, "run_id": ctx.run_id}))
"""


def run_late_import(library: str, module: str, program: str, waxell_db: Path) -> dict[str, Any]:
    """Run ``program`` (dedented) after ``init(instrument=[library])`` in a subprocess writing to
    ``waxell_db``; ``module`` is the SDK module that must not be imported before the program runs."""
    script = _PROLOGUE.format(library=library, module=module) + textwrap.dedent(program) + _EPILOGUE
    env = dict(os.environ, WAXELL_DB=str(waxell_db))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
