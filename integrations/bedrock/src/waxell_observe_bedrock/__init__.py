"""waxell-observe auto-instrumentation for Amazon Bedrock through boto3.

``waxell_observe.init()`` turns it on (name ``bedrock``) once the program imports ``botocore.client``
(``import boto3`` does); :func:`instrument` / :func:`uninstrument` do the same by hand. Captured, on
``bedrock-runtime`` clients: ``converse``, ``converse_stream``, ``invoke_model`` (Anthropic, Amazon
Nova and Titan, Meta Llama bodies; any model's token-count headers) and
``invoke_model_with_response_stream``, one LLM record per call. See
``docs/integrations-providers.md``.

Importing this package does not import boto3 or botocore.
"""

from __future__ import annotations

from waxell_observe_bedrock._instrument import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
