"""``waxell_observe.reasoning``: the module path of the behaviour decorators in the reference SDK
(``waxell_observe.tool``, ``.decision``, ... at top level are the functions, this is the module).
The functions are the ones of :mod:`waxell_observe.decorators` (the same objects)."""

from __future__ import annotations

from waxell_observe.decorators import decision, reasoning_dec, retrieval, retry_dec, step_dec, tool

__all__ = ["decision", "reasoning_dec", "retrieval", "retry_dec", "step_dec", "tool"]
