"""The reference SDK's ``waxell_observe.instrumentors`` functions (§6.4): ``instrument_all`` patches the
real ``openai`` package through its integration and says per name what it did, ``uninstrument_all``
restores it, ``detect_installed_libraries`` answers without importing. Each case runs in its own
process (instrumentation is process-wide)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from waxell_observe.instrumentors import detect_installed_libraries, instrument_all

PROGRAM = """\
import json, sys
import waxell_observe
from waxell_observe.instrumentors import instrument_all, uninstrument_all
from openai.resources.chat.completions import Completions

original = Completions.create
out = {"mixed": instrument_all(["openai", "no-such-library"])}
out["patched"] = Completions.create is not original
out["active"] = waxell_observe.diagnose()["active_instrumentors"]
out["again"] = instrument_all(["openai"])
uninstrument_all()
out["restored"] = Completions.create is original
out["active_after"] = waxell_observe.diagnose()["active_instrumentors"]
out["excluded"] = instrument_all(["openai"], exclude=["openai"])
out["patched_after_exclude"] = Completions.create is not original
print(json.dumps(out))
"""


def _run(tmp_path: Path, **env: str) -> dict[str, Any]:
    script = tmp_path / "instrument.py"
    script.write_text(PROGRAM)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    clean.update(WAXELL_DB=str(tmp_path / "x.db"), WAXELL_JOURNAL_DIR=str(tmp_path / "journal"), **env)
    done = subprocess.run(
        [sys.executable, str(script)], env=clean, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_instrument_all_and_uninstrument_all_patch_and_restore_the_library(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    out = _run(tmp_path)
    assert out["mixed"] == {"no-such-library": False, "openai": True}
    assert (out["patched"], out["active"], out["again"]) == (True, ["openai"], {"openai": True})
    assert (out["restored"], out["active_after"]) == (True, [])
    assert (out["excluded"], out["patched_after_exclude"]) == ({"openai": False}, False)


def test_the_kill_switch_turns_instrument_all_off(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    out = _run(tmp_path, WAXELL_OBSERVE="false")
    assert (out["mixed"], out["patched"], out["excluded"]) == ({}, False, {})


def test_detect_installed_libraries_asks_the_import_system() -> None:
    import importlib.util

    detected = detect_installed_libraries()
    assert detected["openai"] is (importlib.util.find_spec("openai") is not None)
    assert "anthropic" in detected and all(isinstance(v, bool) for v in detected.values())


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="libraries must be a list of library names or None, got int"):
        instrument_all(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exclude: library names must be non-empty strings"):
        instrument_all(["openai"], exclude=[""])


IMPORT_PROGRAM = """\
import json
import openai as plain_openai
import anthropic as plain_anthropic
from openai.resources.chat.completions import Completions
from anthropic.resources.messages import Messages

originals = (Completions.create, Messages.create)
from waxell_observe.openai import openai
after_openai = (Completions.create is not originals[0], Messages.create is not originals[1])
from waxell_observe.anthropic import anthropic
print(json.dumps({
    "same_modules": openai is plain_openai and anthropic is plain_anthropic,
    "after_openai": after_openai,
    "after_anthropic": [Completions.create is not originals[0], Messages.create is not originals[1]],
}))
"""


def test_importing_waxell_observe_openai_or_anthropic_instruments_that_library_only(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    pytest.importorskip("anthropic")
    script = tmp_path / "imports.py"
    script.write_text(IMPORT_PROGRAM)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    clean.update(WAXELL_DB=str(tmp_path / "x.db"), WAXELL_JOURNAL_DIR=str(tmp_path / "journal"))
    done = subprocess.run(
        [sys.executable, str(script)], env=clean, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"same_modules": True, "after_openai": [True, False], "after_anthropic": [True, True]}
