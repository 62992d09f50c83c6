"""The wrapper of botocore's ``BaseClient._make_api_call``: Bedrock Runtime's model calls recorded,
every other AWS call passed straight through.

Every boto3 client method ends in ``_make_api_call(operation_name, api_params)``; the wrapper looks at
the operation name first (one set lookup for an S3 or DynamoDB call), then at the client's service.
For ``Converse``, ``ConverseStream``, ``InvokeModel`` and ``InvokeModelWithResponseStream`` of
``bedrock-runtime`` it runs the prompt guard and the ``llm.before`` gate (a refused request is never
signed or sent), times the call, and records one LLM call with provider ``bedrock`` and the
``modelId`` as the model: from the answer, from a stream's events when the stream ends, or from the
error (a botocore ``ClientError``, re-raised unchanged).

Imported only when botocore's client module is being patched.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

from botocore.response import StreamingBody

from waxell_observe.instrumentation import (
    CallObservation,
    CallResult,
    StreamObserver,
    gate_llm_request,
    gate_tool_requests,
    guard_kwargs,
    recording_enabled,
    request_attributes,
)
from waxell_observe.integration_api import framework_call_active
from waxell_observe_bedrock import _converse, _invoke
from waxell_observe_bedrock._eventstream import RecordingEventStream

__all__ = ["OPERATIONS", "PROVIDER", "SERVICE", "api_call_wrapper"]

logger = logging.getLogger("waxell_observe")

PROVIDER = "bedrock"
SERVICE = "bedrock-runtime"
_CONVERSE = "Converse"
_CONVERSE_STREAM = "ConverseStream"
_INVOKE = "InvokeModel"
_INVOKE_STREAM = "InvokeModelWithResponseStream"
OPERATIONS = frozenset({_CONVERSE, _CONVERSE_STREAM, _INVOKE, _INVOKE_STREAM})
"""The Bedrock Runtime operations recorded."""

_CONVERSE_PARAMS = ("maxTokens", "temperature", "topP")
_INVOKE_PARAMS = ("max_tokens", "max_gen_len", "temperature", "top_p", "top_k")

Params = dict[str, Any]


class _Call:
    """One Bedrock model call being made: what is sent, how it is observed, how its answer is read."""

    __slots__ = ("family", "observation", "operation", "params")

    def __init__(self, operation: str, params: Params) -> None:
        self.operation = operation
        self.params = params
        self.family = _invoke.OTHER
        self.observation: CallObservation | None = None

    @property
    def streamed(self) -> bool:
        return self.operation in (_CONVERSE_STREAM, _INVOKE_STREAM)

    @property
    def model(self) -> str:
        model = self.params.get("modelId")
        return model if isinstance(model, str) else ""

    # -- before the request ------------------------------------------------------------------

    def begin(self) -> None:
        """Guard and gate the request (``PromptGuardError`` / ``PolicyViolationError`` propagate),
        then start the observation."""
        if self.operation in (_CONVERSE, _CONVERSE_STREAM):
            self._begin_converse()
        else:
            self._begin_invoke()

    def _begin_converse(self) -> None:
        params = guard_kwargs(self.params, provider=PROVIDER, system_key="system")
        self.params = params
        config = params.get("inferenceConfig")
        if not isinstance(config, dict):
            config = {}
        messages = params.get("messages")
        gate_llm_request(
            provider=PROVIDER,
            model=self.model,
            messages=messages,
            system=params.get("system"),
            max_tokens=config.get("maxTokens"),
        )
        self.observation = self._observe(
            "chat",
            messages,
            params.get("system"),
            _converse.prompt_preview(messages),
            request_attributes(config, _CONVERSE_PARAMS),
            _converse.offered_tools(params),
        )

    def _begin_invoke(self) -> None:
        self.family = family = _invoke.family_of(self.model)
        body = _invoke.parse_body(self.params.get("body"))
        view = _invoke.request_view(family, body)
        if view and body is not None and family.messages_key is not None:
            guarded = guard_kwargs(
                view,
                provider=PROVIDER,
                system_key="system" if family.system_key else None,
                injection=family.operation != "embeddings",
            )
            if guarded is not view:  # redacted: send the redacted body
                body = {**body, family.messages_key: guarded["messages"]}
                if family.system_key:
                    body[family.system_key] = guarded.get("system")
                self.params = {**self.params, "body": json.dumps(body).encode()}
                view = guarded
        messages = view.get("messages")
        gate_llm_request(
            provider=PROVIDER,
            model=self.model,
            messages=messages,
            system=view.get("system"),
            max_tokens=view.get("max_tokens"),
        )
        attributes = request_attributes(body or {}, _INVOKE_PARAMS)
        attributes["model_family"] = family.name
        self.observation = self._observe(
            family.operation,
            messages if family.operation != "embeddings" else None,
            view.get("system"),
            _invoke.prompt_preview(messages),
            attributes,
            [],
        )

    def _observe(
        self,
        operation: str,
        messages: Any,
        system: Any,
        preview: str,
        attributes: dict[str, Any],
        tools: list[str],
    ) -> CallObservation:
        attributes["api"] = self.operation
        return CallObservation(
            provider=PROVIDER,
            operation=operation,
            request_model=self.model,
            messages=messages if isinstance(messages, (str, list)) else None,
            system=system,
            tools_offered=tools,
            prompt_preview=preview,
            stream=self.streamed,
            attributes=attributes,
            conversational=operation != "embeddings",
        )

    # -- after the answer ----------------------------------------------------------------------

    def fail(self, error: BaseException) -> None:
        """The request failed: record it with the HTTP status and AWS error code botocore reports."""
        observation = self.observation
        if observation is None:
            return
        response = getattr(error, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = response.get("Error", {}).get("Code")
            if isinstance(status, int):
                observation.attributes["http_status"] = status
            if isinstance(code, str) and code:
                observation.attributes["error_code"] = code
        observation.fail(error)

    def finish(self, response: Any) -> Any:
        """Record the answer (or hand back its stream behind a recording proxy); return ``response``."""
        observation = self.observation
        if observation is None or not isinstance(response, dict):
            return response
        requested: list[Any] = []
        try:
            if self.operation == _CONVERSE_STREAM and "stream" in response:
                observer = StreamObserver(observation, _converse.ConverseAccumulator())
                response["stream"] = RecordingEventStream(response["stream"], observer)
            elif self.operation == _INVOKE_STREAM and "body" in response:
                observer = StreamObserver(observation, _invoke.InvokeAccumulator(self.family))
                response["body"] = RecordingEventStream(response["body"], observer)
            else:
                result = self._result(response)
                observation.succeed(result)
                requested = result.tool_calls
        except Exception:
            logger.exception("waxell-observe: could not record the bedrock %s call", self.operation)
        if requested and not framework_call_active():
            gate_tool_requests(requested)
        return response

    def _result(self, response: dict[str, Any]) -> CallResult:
        if self.operation == _CONVERSE:
            return _converse.converse_result(response)
        body = response.get("body")
        parsed = None
        if isinstance(body, StreamingBody):
            data = body.read()  # read now for the usage; the caller reads the same bytes from a copy
            response["body"] = StreamingBody(io.BytesIO(data), len(data))
            parsed = _invoke.parse_body(data)
        result = _invoke.invoke_result(self.family, parsed)
        _invoke.header_usage(result, response.get("ResponseMetadata", {}).get("HTTPHeaders"))
        return result


def _service(client: Any) -> str:
    try:
        return str(client.meta.service_model.service_name)
    except AttributeError:
        return ""


def api_call_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """The wrapper of ``BaseClient._make_api_call(operation_name, api_params)``."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if len(args) != 2 or args[0] not in OPERATIONS or _service(instance) != SERVICE:
            return wrapped(*args, **kwargs)
        operation, params = args
        if not isinstance(params, dict) or not recording_enabled(active, PROVIDER):
            return wrapped(*args, **kwargs)
        call = _Call(operation, params)
        try:
            call.begin()
        except Exception as exc:
            if _refusal(exc):
                raise
            logger.exception("waxell-observe: bedrock instrumentation failed; call not recorded")
        try:
            response = wrapped(operation, call.params, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        return call.finish(response)

    return wrapper


def _refusal(error: Exception) -> bool:
    """True for the prompt guard's and the gates' refusals, which stop the request on purpose."""
    from waxell_observe.errors import PolicyViolationError, PromptGuardError

    return isinstance(error, (PolicyViolationError, PromptGuardError))
