"""waxell-observe auto-instrumentation for the Google Gen AI SDK (``google-genai``: Gemini API and Vertex AI).

``waxell_observe.init()`` turns it on (name ``gemini``) once the program imports ``google.genai``;
:func:`instrument` / :func:`uninstrument` do the same by hand. Captured: every ``generate_content`` /
``generate_content_stream`` request of ``client.models`` and ``client.aio.models`` (chats and automatic
function calling included: one LLM record per request) and ``embed_content``; provider ``gemini``, or
``vertex_ai`` for a client made with ``vertexai=True``. See ``docs/integrations-providers.md``.

Importing this package does not import ``google.genai``.
"""

from __future__ import annotations

from waxell_observe_gemini._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
