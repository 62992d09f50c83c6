"""Every CLI command that only needs the store works where the server cannot be imported.

Each command runs in a fresh interpreter whose prelude makes ``fastapi``, ``starlette``,
``uvicorn`` and the control-plane package unimportable (``sys.modules[name] = None``), as on
an install without the server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from waxell_observe.store.prompts import content_hash

BLOCKED = ("fastapi", "starlette", "uvicorn", "waxell_observe_server")


def prelude(blocked: tuple[str, ...]) -> str:
    """Python source: make ``blocked`` unimportable, run the CLI, then check none got imported."""
    return (
        "import sys\n"
        f"blocked = {blocked!r}\n"
        "for name in blocked:\n"
        "    sys.modules[name] = None\n"
        "from waxell_observe.cli import main\n"
        "try:\n"
        "    main(prog_name='waxell-observe')\n"
        "finally:\n"
        "    leaked = [n for n in sys.modules if n.split('.')[0] in blocked and sys.modules[n] is not None]\n"
        "    assert not leaked, leaked\n"
    )


def cli(*args: str, db: Path, blocked: tuple[str, ...] = BLOCKED) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(WAXELL_DB=str(db), WAXELL_CONFIG_FILE=str(db.parent / "none"))
    return subprocess.run(
        [sys.executable, "-c", prelude(blocked), *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "observe.db"


def test_serve_and_ui_name_what_to_install(db: Path) -> None:
    hint = "pip install waxell-observe-server (the same as pip install 'waxell-observe[server]')"
    out = cli("serve", "--port", "0", db=db)
    assert (out.returncode, out.stdout, out.stderr) == (
        1,
        "",
        "Error: waxell-observe serve needs the control plane, which is not installed (uvicorn is missing): "
        f"{hint} (and 'waxell-observe[postgres]' for PostgreSQL)\n",
    )
    out = cli("ui", "--port", "0", "--no-browser", db=db)
    assert (out.returncode, out.stdout, out.stderr) == (
        1,
        "",
        "Error: waxell-observe ui needs the control plane, which is not installed (uvicorn is missing): "
        f"{hint}\n",
    )


def test_serve_without_the_server_package_only(db: Path) -> None:
    """FastAPI and uvicorn installed, the control-plane package not."""
    out = cli("serve", "--port", "0", db=db, blocked=("waxell_observe_server",))
    assert out.returncode == 1
    assert "(waxell_observe_server is missing): pip install waxell-observe-server" in out.stderr


def test_keys_without_the_server(db: Path) -> None:
    out = cli("keys", "list", db=db)
    assert (out.returncode, out.stdout, out.stderr) == (
        0,
        "no keys (the server runs in local mode on loopback)\n",
        "",
    )

    out = cli("keys", "create", "--name", "ci", db=db)
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(r"wax_sk_[0-9a-f]{48}\n", out.stdout)
    [listed] = json.loads(cli("keys", "list", "--json", db=db).stdout)
    key_id = listed["key_id"]
    assert out.stderr == (
        f"key id {key_id} (ci): store it now, it cannot be shown again. "
        "Clients send it as the X-Wax-Key header (WAXELL_API_KEY).\n"
    )

    out = cli("keys", "revoke", "ci", db=db)
    assert (out.returncode, out.stdout, out.stderr) == (0, f"revoked key {key_id} (ci)\n", "")

    out = cli("keys", "revoke", "nope", db=db)
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == "Error: no key matches 'nope' (see `waxell-observe keys list`)\n"


def test_prompts_without_the_server(db: Path) -> None:
    out = cli("prompts", "list", db=db)
    assert (out.returncode, out.stdout, out.stderr) == (0, "no prompts\n", "")

    out = cli("prompts", "add", "greeting", "--text", "Hello {name}", "--label", "production", db=db)
    assert (out.returncode, out.stdout, out.stderr) == (0, "greeting version 1 [production] (text)\n", "")

    out = cli("prompts", "list", db=db)
    digest = content_hash("Hello {name}")[:12]
    assert (out.returncode, out.stdout, out.stderr) == (
        0,
        f"greeting  v1  text  production  {digest}\n",
        "",
    )


def test_runs_policies_and_audit_without_the_server(db: Path) -> None:
    out = cli("runs", "--json", db=db)
    assert (out.returncode, out.stdout, out.stderr) == (0, "[]\n", "")
    out = cli("policies", "list", "--json", db=db)
    assert (out.returncode, out.stdout, out.stderr) == (0, '{\n  "policies": []\n}\n', "")
    out = cli("audit", "--json", db=db)
    assert (out.returncode, out.stdout, out.stderr) == (0, "[]\n", "")
