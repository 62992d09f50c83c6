"""The patches on the Claude Agent SDK: where a :class:`~.session.Session` is made and fed.

* ``InternalClient.process_query`` (what ``query()`` iterates): a session of its own for the query,
  the ``PreToolUse`` gate added to a copy of its options, each message it yields observed; the turn
  ends at its result, or with the stream (an exception from the CLI, or the program stopping early).
* ``ClaudeSDKClient.connect``: the client's session, the gate added to the options the connection
  is made with (the client's ``options`` attribute is put back afterwards); a prompt given to
  ``connect`` starts the first turn.
* ``ClaudeSDKClient.query``: starts a turn; ``receive_messages`` (which ``receive_response`` reads):
  each message observed, a failure of the stream ends the turn; ``disconnect``: ends a turn still
  waiting for its result.

The gate is a hook rather than a ``can_use_tool`` callback because the CLI asks ``can_use_tool``
only about the tools its permission rules leave open, and runs ``PreToolUse`` hooks before every
tool in every permission mode.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from claude_agent_sdk import ClaudeAgentOptions, HookMatcher

from waxell_observe.instrumentation import recording_enabled
from waxell_observe_claude_agent_sdk.session import FRAMEWORK, Session

__all__ = [
    "connect_wrapper",
    "disconnect_wrapper",
    "gated_options",
    "process_query_wrapper",
    "query_wrapper",
    "receive_messages_wrapper",
]

logger = logging.getLogger("waxell_observe")

_SESSION_ATTRIBUTE = "_waxell_observe_session"

Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


def gated_options(options: ClaudeAgentOptions | None, session: Session) -> ClaudeAgentOptions:
    """A copy of ``options`` whose ``PreToolUse`` hooks end with the session's ``tool.before`` gate
    (a matcher for every tool); the program's own hooks stay as they were."""
    options = options if options is not None else ClaudeAgentOptions()
    hooks: dict[Any, list[HookMatcher]] = dict(options.hooks or {})
    hooks["PreToolUse"] = [
        *hooks.get("PreToolUse", []),
        HookMatcher(matcher=None, hooks=[session.pre_tool_use]),
    ]
    return dataclasses.replace(options, hooks=hooks)


def _bound(names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**dict(zip(names, args, strict=False)), **kwargs}


def session_of(client: Any) -> Session | None:
    """The session of a connected ``ClaudeSDKClient`` (None before it connected)."""
    session = getattr(client, _SESSION_ATTRIBUTE, None)
    return session if isinstance(session, Session) else None


async def _followed_query(session: Session, messages: Any, prompt: Any) -> AsyncIterator[Any]:
    session.begin(prompt if isinstance(prompt, str) else None)
    try:
        async for message in messages:
            session.observe(message)
            yield message
    except BaseException as exc:  # GeneratorExit: the program stopped reading; the turn ends there
        session.end(exc)
        raise
    else:
        session.end()
    finally:
        await messages.aclose()


def process_query_wrapper(active: Callable[[], bool]) -> Wrapper:
    """``InternalClient.process_query(prompt, options, transport)``: the query's session."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        try:
            call = _bound(("prompt", "options", "transport"), args, kwargs)
            session = Session("query")
            call["options"] = gated_options(call.get("options"), session)
        except Exception:
            logger.exception("waxell-observe: could not observe a Claude agent query")
            return wrapped(*args, **kwargs)
        return _followed_query(session, wrapped(**call), call.get("prompt"))

    return wrapper


def connect_wrapper(active: Callable[[], bool]) -> Wrapper:
    """``ClaudeSDKClient.connect(prompt=None)``: the client's session and the gated options."""

    async def connect(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        session = session_of(instance)
        if session is None:
            session = Session("client")
            setattr(instance, _SESSION_ATTRIBUTE, session)
        else:
            session.restart()
        original = instance.options
        instance.options = gated_options(original, session)
        try:
            prompt = _bound(("prompt",), args, kwargs).get("prompt")
            if isinstance(prompt, str):
                session.begin(prompt)
            return await wrapped(*args, **kwargs)
        except BaseException as exc:
            session.end(exc)
            raise
        finally:
            instance.options = original

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        return connect(wrapped, instance, args, kwargs)

    return wrapper


def query_wrapper(active: Callable[[], bool]) -> Wrapper:
    """``ClaudeSDKClient.query(prompt, session_id="default")``: a turn starts."""

    async def query(session: Session, wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        prompt = _bound(("prompt",), args, kwargs).get("prompt")
        session.begin(prompt if isinstance(prompt, str) else None)
        try:
            return await wrapped(*args, **kwargs)
        except BaseException as exc:
            session.end(exc)
            raise

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        session = session_of(instance)
        if session is None or not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        return query(session, wrapped, args, kwargs)

    return wrapper


async def _followed_client(session: Session, messages: Any) -> AsyncIterator[Any]:
    try:
        async for message in messages:
            session.observe(message)
            yield message
    except GeneratorExit:  # the program stopped reading (receive_response after a result)
        raise
    except BaseException as exc:
        session.end(exc)
        raise
    finally:
        await messages.aclose()


def receive_messages_wrapper(active: Callable[[], bool]) -> Wrapper:
    """``ClaudeSDKClient.receive_messages()``: every message the program reads is observed."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        session = session_of(instance)
        if session is None or not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        return _followed_client(session, wrapped(*args, **kwargs))

    return wrapper


def disconnect_wrapper(active: Callable[[], bool]) -> Wrapper:
    """``ClaudeSDKClient.disconnect()``: a turn still waiting for its result ends."""

    async def disconnect(
        session: Session, wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        session.end()
        return await wrapped(*args, **kwargs)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        session = session_of(instance)
        if session is None or not active():
            return wrapped(*args, **kwargs)
        return disconnect(session, wrapped, args, kwargs)

    return wrapper
