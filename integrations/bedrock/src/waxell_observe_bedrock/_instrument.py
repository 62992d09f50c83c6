"""What the bedrock integration patches, and the switch that turns it on and off.

boto3 clients are generated at run time, but every method of every client ends in
``botocore.client.BaseClient._make_api_call``: that one method is wrapped, and the wrapper records
the Bedrock Runtime model calls only (see ``_wrappers``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "instrument", "is_instrumented", "uninstrument"]


def _make_api_call(active: Callable[[], bool]) -> Callable[..., Any]:
    from waxell_observe_bedrock import _wrappers  # imports botocore: only once it is being patched

    return _wrappers.api_call_wrapper(active)


TARGETS: tuple[Target, ...] = (Target("botocore.client", "BaseClient", "_make_api_call", _make_api_call),)
"""``converse``, ``converse_stream``, ``invoke_model`` and ``invoke_model_with_response_stream`` of a
``bedrock-runtime`` client."""

INSTRUMENTATION = Instrumentation("bedrock", TARGETS, sdk="botocore")

instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
