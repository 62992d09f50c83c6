"""``waxell_observe.utils`` (reference SDK §1.10 lists it among the submodules): a real module whose
helpers are the SDK's own functions, and what they do."""

from __future__ import annotations

import datetime
import enum
import importlib
import re
import types

import waxell_observe
from waxell_observe import initialization, redaction, serialize


class Color(enum.Enum):
    RED = "red"


def test_utils_is_a_submodule_of_the_sdks_own_helpers() -> None:
    utils = importlib.import_module("waxell_observe.utils")
    assert isinstance(waxell_observe.utils, types.ModuleType) and waxell_observe.utils is utils
    assert sorted(utils.__all__) == ["generate_session_id", "preview", "redact", "redact_text", "to_jsonable"]
    assert utils.to_jsonable is serialize.to_jsonable and utils.preview is serialize.preview
    assert utils.redact is redaction.redact is waxell_observe.redact
    assert utils.redact_text is redaction.redact_text
    assert utils.generate_session_id is initialization.generate_session_id


def test_what_the_helpers_do() -> None:
    from waxell_observe.utils import generate_session_id, preview, redact, redact_text, to_jsonable

    value = {"when": datetime.date(2024, 1, 2), "color": Color.RED, "ids": (1, 2), 3: None}
    assert to_jsonable(value) == {"when": "2024-01-02", "color": "red", "ids": [1, 2], "3": None}
    assert (
        preview("abcdefgh", 5) == "abcd…" and preview({"a": 1}, 100) == '{"a":1}' and preview(None, 3) == ""
    )
    assert redact({"to": ["ops@example.com"], "n": 1}) == {"to": ["##EMAIL##"], "n": 1}
    assert redact_text("key sk-proj-4f9aB7cD2eF8gH1iJ6kL3mN0") == "key ##API_KEY##"
    assert re.fullmatch(r"sess_[0-9a-f]{24}", generate_session_id())
