"""``GET prompts/{name}/`` (versions, labels, content hash), the prompt store and CLI, and ``GET config/``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from waxell_observe_server import create_app

from waxell_observe.cli import main
from waxell_observe.store import get_store
from waxell_observe.store.prompts import add_prompt, content_hash

CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "{{question}}"}]


def test_prompt_versions_and_labels(store_url: str, api: Any) -> None:
    with get_store(store_url).write() as conn:
        v1 = add_prompt(
            conn, "greeting", "Hello {{name}}", labels=["production"], config={"temperature": 0.2}
        )
        add_prompt(conn, "greeting", "Hi {{name}}!", labels=["staging"])
        v3 = add_prompt(conn, "greeting", "Hey {{name}}", labels=["production"])
        add_prompt(conn, "assistant", CHAT)
    assert v1 == {
        "name": "greeting",
        "version": 1,
        "prompt_type": "text",
        "content": "Hello {{name}}",
        "config": {"temperature": 0.2},
        "labels": ["production"],
        "content_hash": hashlib.sha256(b"Hello {{name}}").hexdigest(),
    }

    def get(name: str, expect: int = 200, **params: Any) -> dict[str, Any]:
        response = api.http.get(f"/api/v1/observe/prompts/{name}/", params=params)
        assert response.status_code == expect, response.text
        return response.json()

    assert get("greeting") == {**v3, "labels": ["production"]}  # newest
    assert get("greeting", label="latest")["version"] == 3
    assert get("greeting", label="production")["version"] == 3  # the label moved to version 3
    assert get("greeting", version=1)["labels"] == []
    assert get("greeting", label="staging")["content"] == "Hi {{name}}!"
    assert get("greeting", version=2, label="staging")["version"] == 2
    assert get("greeting", 404, version=1, label="staging") == {
        "detail": "unknown prompt 'greeting' version 1 label 'staging'"
    }
    assert get("greeting", 404, version=9) == {"detail": "unknown prompt 'greeting' version 9"}
    assert get("nope", 404) == {"detail": "unknown prompt 'nope'"}
    chat = get("assistant")
    assert (chat["prompt_type"], chat["content"], chat["content_hash"]) == ("chat", CHAT, content_hash(CHAT))
    assert (
        content_hash(CHAT)
        == hashlib.sha256(json.dumps(CHAT, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    )
    assert get("greeting", 422, version=0)["message"].startswith("query parameter version:")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", "x"), {}, "prompt name must be a non-empty string"),
        (("p", 5), {}, "a chat prompt needs a list"),
        (("p", "x"), {"prompt_type": "chat"}, "a chat prompt needs a list"),
        (("p", [{"role": "user"}]), {}, "a chat prompt needs a list"),
        (("p", "x"), {"labels": ["latest"]}, "'latest' is not a label you can set"),
        (("p", "x"), {"labels": "prod"}, "labels must be a list of non-empty strings"),
        (("p", "x"), {"config": [1]}, "config must be a dict"),
        (("p", "x"), {"prompt_type": "image"}, "prompt_type must be 'text' or 'chat'"),
    ],
)
def test_add_prompt_rejects_bad_input(
    tmp_path: Path, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with (
        get_store(f"sqlite:///{tmp_path / 'p.db'}").write() as conn,
        pytest.raises(ValueError, match=message),
    ):
        add_prompt(conn, *args, **kwargs)


def test_prompts_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    first = runner.invoke(
        main, ["prompts", "add", "greet", "--text", "Hello", "--label", "production", "--db", db]
    )
    assert (first.exit_code, first.output) == (0, "greet version 1 [production] (text)\n")
    chat_file = tmp_path / "chat.json"
    chat_file.write_text(json.dumps(CHAT))
    second = runner.invoke(main, ["prompts", "add", "greet", "--file", str(chat_file), "--config", '{"t": 1}',
                                  "--db", db])  # fmt: skip
    assert (second.exit_code, second.output) == (0, "greet version 2 (chat)\n")
    bad = runner.invoke(main, ["prompts", "add", "greet", "--db", db])
    assert bad.exit_code == 2 and "exactly one of --text or --file" in bad.output
    listed = json.loads(runner.invoke(main, ["prompts", "list", "--json", "--db", db]).output)
    assert [(p["version"], p["prompt_type"], p["labels"], p["config"]) for p in listed] == [
        (1, "text", ["production"], {}),
        (2, "chat", [], {"t": 1}),
    ]
    with TestClient(create_app(db)) as client:
        assert (
            client.get("/api/v1/observe/prompts/greet/", params={"label": "production"}).json()["content"]
            == "Hello"
        )


def test_config_tells_clients_the_otlp_endpoint(tmp_path: Path) -> None:
    app = create_app(
        str(tmp_path / "c.db"), otel_endpoint="http://collector:4318", tenant_id="t1", tenant_slug="acme"
    )
    with TestClient(app) as client:
        assert client.get("/api/v1/observe/config/").json() == {
            "otel_endpoint": "http://collector:4318",
            "tenant_id": "t1",
            "tenant_slug": "acme",
            "batch_ingest": "runs/batch/",
            "batch_max_runs": 1000,
        }
