"""The tenant's LLM configuration in the store: validation (every problem named by its field), the
round trip on SQLite and PostgreSQL, the manifest body and its ETag."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from llm_config_sample import CONFIG, NORMALIZED

from waxell_observe.config import db_url_from
from waxell_observe.store import get_store
from waxell_observe.store.llm_config import (
    LlmConfigError,
    manifest_body,
    manifest_etag,
    read_llm_config,
    replace_llm_config,
)
from waxell_observe.store.llm_config_models import validate_llm_config


def test_validation_normalizes_defaults_and_order() -> None:
    assert validate_llm_config(CONFIG) == NORMALIZED
    assert validate_llm_config({}) == {
        "instances": [],
        "tenant_models": [],
        "model_groups": [],
        "capability_overrides": [],
    }
    group = validate_llm_config(
        {**CONFIG, "model_groups": [{**CONFIG["model_groups"][0], "display_name": ""}]}
    )
    assert group["model_groups"][0]["display_name"] == "smart"


def test_manifest_header_fields_are_ignored_on_input() -> None:
    body = {"schema_version": 1, "tenant_id": "t", "tenant_slug": "s", "generated_at": "x", **CONFIG}
    assert validate_llm_config(body) == NORMALIZED


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(CONFIG)
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "problems"),
    [
        (
            [1],
            ["document: must be an object with instances, tenant_models, model_groups, capability_overrides"],
        ),
        ({"instance": []}, ["instance: Extra inputs are not permitted"]),
        (
            _with(("tenant_models", 2, "instance_id"), "azure"),
            [
                "tenant_models[2].instance_id: unknown instance 'azure' "
                "(instances: 'openai-main', 'azure-east')",
                "model_groups[0].entries[0]: no tenant model 'mini' on instance 'openai-main'",
            ],
        ),
        (
            _with(("instances", 1, "instance_id"), "openai-main"),
            [
                "instances: instance_id 'openai-main' is used more than once",
                "tenant_models[1].instance_id: unknown instance 'azure-east' (instances: 'openai-main')",
                "capability_overrides[0].instance_id: unknown instance 'azure-east' "
                "(instances: 'openai-main')",
            ],
        ),
        (
            _with(("tenant_models", 2), {"model_id": "gpt-4o", "instance_id": "openai-main"}),
            [
                "tenant_models[2]: model_id 'gpt-4o' on instance 'openai-main' is listed more than once",
                "model_groups[0].entries[0]: no tenant model 'mini' on instance 'openai-main'",
            ],
        ),
        (
            {
                "instances": [
                    {"instance_id": "a", "kind": "openai", "is_default_for_kind": True},
                    {"instance_id": "b", "kind": "openai", "is_default_for_kind": True},
                ]
            },
            ["instances: more than one instance of kind 'openai' has is_default_for_kind true"],
        ),
        (
            _with(("model_groups", 0, "group_id"), "mini"),
            ["model_groups[0].group_id: 'mini' is also a model_id (a name must mean one model or one group)"],
        ),
        (
            _with(("model_groups", 0, "entries", 0, "position"), 1),
            ["model_groups[0].entries: position 1 is used more than once"],
        ),
        (
            _with(("model_groups", 0, "entries"), []),
            ["model_groups[0].entries: List should have at least 1 item after validation, not 0"],
        ),
        (
            _with(("capability_overrides", 0), {"model_id": "gpt-5"}),
            [
                "capability_overrides[0].model_id: unknown model 'gpt-5'",
                "capability_overrides[0]: sets no capability "
                "(give supports_tools, supports_json, supports_streaming or context_window)",
            ],
        ),
        (
            _with(("capability_overrides", 0, "model_id"), "mini"),
            ["capability_overrides[0]: no tenant model 'mini' on instance 'azure-east'"],
        ),
        (
            _with(("instances", 0, "base_url"), "ftp://x"),
            [
                "instances[0].base_url: Value error, must be an http:// or https:// URL "
                "(or empty for the provider's own), got 'ftp://x'"
            ],
        ),
        (
            _with(("tenant_models", 0, "context_window"), 0),
            ["tenant_models[0].context_window: Input should be greater than or equal to 1"],
        ),
        (
            _with(("tenant_models", 0, "supports_json"), "yes"),
            ["tenant_models[0].supports_json: Input should be a valid boolean"],
        ),
        (_with(("instances", 0, "kind"), ""), ["instances[0].kind: String should have at least 1 character"]),
        (
            _with(("tenant_models", 1), {"instance_id": "azure-east"}),
            ["tenant_models[1].model_id: Field required"],
        ),
    ],
)
def test_validation_names_every_problem(doc: Any, problems: list[str]) -> None:
    with pytest.raises(LlmConfigError) as caught:
        validate_llm_config(doc)
    assert caught.value.problems == problems
    assert str(caught.value) == "invalid LLM configuration: " + "; ".join(problems)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return db_url_from(str(tmp_path / "llm.db"))
    return db_url_from(request.getfixturevalue("postgres_url"))


def test_round_trip(store_url: str) -> None:
    store = get_store(store_url)
    with store.read() as conn:
        empty = read_llm_config(conn)
    assert (empty.configured, empty.updated_at, empty.updated_by) == (False, None, "")
    assert empty.counts() == {
        "instances": 0,
        "tenant_models": 0,
        "model_groups": 0,
        "capability_overrides": 0,
    }

    with store.write() as conn:
        stored = replace_llm_config(conn, CONFIG, updated_by="dana", now=1_800_000_000.25)
    assert stored.document == NORMALIZED
    with store.read() as conn:
        again = read_llm_config(conn)
    assert (again.document, again.updated_at, again.updated_by) == (NORMALIZED, 1_800_000_000.25, "dana")
    assert again.counts() == {
        "instances": 2,
        "tenant_models": 3,
        "model_groups": 1,
        "capability_overrides": 1,
    }

    # a bad document changes nothing
    with pytest.raises(LlmConfigError), store.write() as conn:
        replace_llm_config(conn, _with(("tenant_models", 0, "instance_id"), "nope"))
    with store.read() as conn:
        assert read_llm_config(conn).document == NORMALIZED

    # replaced whole: one document per store
    smaller = {
        "instances": [{"instance_id": "local", "kind": "ollama", "base_url": "http://127.0.0.1:11434/v1"}]
    }
    with store.write() as conn:
        replace_llm_config(conn, smaller, now=1_800_000_100.0)
    with store.read() as conn:
        last = read_llm_config(conn)
    assert last.counts() == {"instances": 1, "tenant_models": 0, "model_groups": 0, "capability_overrides": 0}
    assert (last.document["instances"][0]["instance_id"], last.updated_at, last.updated_by) == (
        "local",
        1_800_000_100.0,
        "",
    )


def test_manifest_body_and_etag() -> None:
    with get_store(db_url_from(":memory:")).write() as conn:
        stored = replace_llm_config(conn, CONFIG, now=1.0)
    body = manifest_body(stored, tenant_id="t-1", tenant_slug="acme", now=1_800_000_000.5)
    assert list(body) == [
        "schema_version",
        "tenant_id",
        "tenant_slug",
        "generated_at",
        "instances",
        "tenant_models",
        "model_groups",
        "capability_overrides",
    ]
    assert body["schema_version"] == 1
    assert (body["tenant_id"], body["tenant_slug"]) == ("t-1", "acme")
    assert body["generated_at"] == "2027-01-15T08:00:00.500Z"
    assert {k: body[k] for k in NORMALIZED} == NORMALIZED
    etag = manifest_etag(body)
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
    # generated_at is not content; the configuration and the tenant are
    assert manifest_etag({**body, "generated_at": "2030-01-01T00:00:00.000Z"}) == etag
    assert manifest_etag({**body, "tenant_slug": "other"}) != etag
    assert manifest_etag({**body, "model_groups": []}) != etag
