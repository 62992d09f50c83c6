"""``template_hash``: which compiled managed prompt a provider request was built from."""

from __future__ import annotations

from typing import Any

import pytest

from waxell_observe.instrumentation.template_hash import template_hash
from waxell_observe.types import PromptInfo

TEXT = PromptInfo(name="t", version=2, prompt_type="text", content="Hi {{who}}", content_hash="h-text")
CHAT = PromptInfo(
    name="c",
    version=1,
    prompt_type="chat",
    content=[{"role": "user", "content": "{{q}}"}],
    content_hash="h-chat",
)


@pytest.mark.parametrize(
    ("messages", "system", "expected"),
    [
        (CHAT.compile(q="x"), None, "h-chat"),  # the compiled message list itself
        (TEXT.compile(who="Ada"), None, "h-text"),  # a compiled text as the whole input
        ([{"role": "user", "content": "hello"}], TEXT.compile(who="Ada"), "h-text"),  # the system prompt
        (
            [{"role": "system", "content": "plain"}, {"role": "user", "content": TEXT.compile(who="x")}],
            None,
            "h-text",
        ),
        ([{"role": "user", "content": [{"type": "text", "text": TEXT.compile(who="x")}]}], None, "h-text"),
        ((TEXT.compile(who="x"),), None, "h-text"),  # a tuple of texts (embeddings input)
        ([{"role": "user", "content": "plain"}], "plain system", ""),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], None, ""),
        (None, None, ""),
        ("plain", None, ""),
        ([object(), 3, None], None, ""),
    ],
)
def test_template_hash(messages: Any, system: Any, expected: str) -> None:
    assert template_hash(messages, system) == expected


def test_a_foreign_attribute_that_is_not_a_string_is_ignored() -> None:
    class Odd(str):
        _waxell_template_hash = 5

    assert template_hash([{"role": "user", "content": Odd("x")}]) == ""
