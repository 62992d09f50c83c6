"""The embedded store as a destination: frames become rows, one transaction per batch."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from waxell_observe.pipeline import frames as f
from waxell_observe.pipeline.destination import Delivered, RetryLater
from waxell_observe.transport.wire import interaction_mode
from waxell_observe.vocabulary.rows import policy_audit_row

if TYPE_CHECKING:
    from waxell_observe.store.batch import RowBatch

__all__ = ["StoreDestination"]

logger = logging.getLogger("waxell_observe")


def _cut(value: Any, limit: int) -> str:
    text: str = value if value.__class__ is str else "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit]


_json = msgspec.json.Encoder()


def _sqlite_json(value: Any) -> str | None:
    """A JSON column's text on SQLite (msgspec: several times faster than the json module)."""
    if value is None:
        return None
    if not value and value.__class__ is dict:
        return "{}"
    try:
        return _json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return _json.encode(finite_or_text(value)).decode()


def finite_or_text(value: Any) -> Any:
    """``value`` with what JSON cannot carry turned into text (keys included)."""
    if isinstance(value, dict):
        return {str(k): finite_or_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_text(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _run_row(frame: list[Any], encode: Callable[[Any], Any]) -> tuple[Any, ...]:
    """A ``runs`` row (``store.batch.RUN_COLUMNS`` order) from a start or end frame."""
    ended = frame[0] == f.END
    session_id = _cut(frame[5], 256)
    mode_at = 32 if ended else 18
    mode = interaction_mode(frame[mode_at] if len(frame) > mode_at else "", session_id)
    if ended:
        (status, error, error_type, traceback, ended_at, result, conversation, governance,
         tokens_in, tokens_out, cost, llm_count, step_count, span_count) = frame[18:32]  # fmt: skip
    else:
        status, error, error_type, traceback, ended_at = "running", "", "", "", None
        result, conversation, governance = {}, {}, {}
        tokens_in = tokens_out = llm_count = step_count = span_count = 0
        cost = 0.0
    return (
        frame[2],
        _cut(frame[3], 256),
        _cut(frame[4], 256),
        status,
        error,
        _cut(error_type, 256),
        traceback,
        session_id,
        _cut(frame[6], 256),
        _cut(frame[7], 256),
        frame[8],
        frame[9],
        mode,
        frame[10],
        ended_at or None,
        encode(frame[11]),
        encode(frame[12]),
        encode(frame[13]),
        encode(result),
        encode(conversation or {}),
        encode(governance or {}),
        bool(frame[14]),
        tokens_in,
        tokens_out,
        cost,
        llm_count,
        step_count,
        span_count,
        frame[15],
        "sdk",
    )


def _llm_row(frame: list[Any], encode: Callable[[Any], Any]) -> tuple[Any, ...]:
    attributes = frame[19] or {}
    return (
        frame[3],  # id
        frame[2],  # run_id
        frame[4],  # position
        _cut(frame[5], 256),
        _cut(frame[6], 64),
        frame[7],
        frame[8],
        frame[9],
        _cut(frame[10], 256),
        frame[11],
        frame[12],
        _cut(attributes.get("prompt_hash", "") if isinstance(attributes, dict) else "", 128),
        frame[13],
        frame[14],
        _cut(frame[15], 256),
        frame[16],
        frame[17],
        frame[18],
        encode(attributes),
    )


def _step_row(frame: list[Any], encode: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (frame[3], frame[2], frame[4], frame[5], _cut(frame[6], 512), encode(frame[7]), frame[8])


def _span_row(frame: list[Any], encode: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        frame[3],
        frame[2],
        frame[4],
        frame[5],
        _cut(frame[6], 512),
        frame[7],
        frame[8],
        frame[9],
        frame[10],
        encode(frame[11]),
        encode(frame[12]),
        encode(frame[13]),
        frame[14],
    )


def _score_row(frame: list[Any]) -> tuple[Any, ...]:
    from waxell_observe.store.writer import score_row

    stored = score_row(frame[4], frame[5], frame[6])
    return (
        frame[3], frame[2], _cut(frame[4], 256), frame[6], stored["numeric_value"], stored["string_value"],
        frame[7], frame[8],
    )  # fmt: skip


def _audit_row(frame: list[Any]) -> dict[str, Any]:
    attributes = frame[11] if isinstance(frame[11], dict) else {}
    return policy_audit_row(
        ts=frame[9],
        run_id=frame[2],
        agent_name=frame[15],
        workflow_name=frame[16],
        policy_name=str(attributes.get("policy_name", frame[6])),
        category=str(attributes.get("category", "")),
        action=str(attributes.get("action", "")),
        reason=str(attributes.get("reason", "")),
        phase=str(attributes.get("phase", "")),
        metadata=attributes.get("metadata") or None,
    )


class StoreDestination:
    """Writes frames to the store at ``url`` (SQLite or PostgreSQL) through ``store.batch``."""

    name = "embedded"

    def __init__(self, url: str) -> None:
        # Imported here, on the drainer's thread under the pipeline's import guard (a fork waits).
        import sqlalchemy.exc  # noqa: F401

        import waxell_observe.store.batch  # noqa: F401

        self.url = url
        self.key = f"store:{url}"
        self._store: Any = None
        self._encode: Callable[[Any], Any] | None = None

    def _open(self) -> tuple[Any, Callable[[Any], Any]]:
        if self._store is None or self._encode is None:
            from waxell_observe.store import bulk, get_store

            store = get_store(self.url)
            self._encode = _sqlite_json if store.dialect == "sqlite" else bulk.json_encoder(store.dialect)
            self._store = store
        return self._store, self._encode

    def deliver(self, batch: list[list[Any]]) -> Delivered | None:
        from sqlalchemy.exc import DBAPIError, OperationalError

        from waxell_observe.store.batch import RowBatch, write_batch

        try:
            store, encode = self._open()
        except OperationalError as exc:
            raise _retry(exc) from exc
        except Exception as exc:  # noqa: BLE001 - a store that cannot be opened keeps everything journaled
            raise RetryLater(
                f"cannot open the store {self.url}: {type(exc).__name__}: {exc}", persistent=True
            ) from exc
        rows = RowBatch()
        outcome = Delivered()
        starts: dict[str, list[Any]] = {}
        for frame in batch:
            try:
                if frame[0] == f.START:
                    starts[frame[2]] = frame  # its row is made below, unless the run's end came too
                else:
                    _add_frame(rows, frame, encode)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not hold the others back
                self._refuse(outcome, frame, exc)
        # A run that starts and ends in one batch is stored from its end frame alone (a full
        # snapshot): the row of its start would be made only to be left out (store.batch).
        ended = rows.ended
        for run_id, frame in starts.items():
            if run_id not in ended:
                try:
                    rows.started[run_id] = _run_row(frame, encode)
                except Exception as exc:  # noqa: BLE001 - one bad frame must not hold the others back
                    self._refuse(outcome, frame, exc)
        if not rows:
            return outcome
        try:
            write_batch(store, rows)
        except OperationalError as exc:
            raise _retry(exc) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise _retry(exc) from exc
            raise
        return outcome

    def _refuse(self, outcome: Delivered, frame: list[Any], exc: Exception) -> None:
        kind = frame[0] if frame else -1
        name = f.KIND_NAMES[kind] if isinstance(kind, int) and 0 <= kind < 7 else kind
        reason = f"malformed {name} frame ({type(exc).__name__}: {exc})"
        logger.warning("waxell-observe: store %s refused a record: %s", self.url, reason)
        outcome.refuse(reason)

    def close(self) -> None:
        self._store = None


def _add_frame(rows: RowBatch, frame: list[Any], encode: Callable[[Any], Any]) -> None:
    """Add one journal frame to ``rows`` as the row(s) it is stored as (start frames are made rows
    by :meth:`StoreDestination.deliver`, only for runs whose end is not in the batch)."""
    kind = frame[0]
    if kind == f.LLM:
        rows.llm_calls.append(_llm_row(frame, encode))
    elif kind == f.STEP:
        rows.steps.append(_step_row(frame, encode))
    elif kind == f.SPAN:
        if frame[2]:  # a refused run's policy span has no run: its audit row alone is kept
            rows.spans.append(_span_row(frame, encode))
        if frame[5] == "policy":
            rows.audits.append(_audit_row(frame))
    elif kind == f.SCORE:
        rows.scores.append(_score_row(frame))
    elif kind == f.END:
        rows.ended[frame[2]] = _run_row(frame, encode)


def _retry(exc: Exception) -> RetryLater:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    persistent = "disk is full" in text or "disk I/O error" in text or "readonly" in text
    if "disk is full" in text:
        text = f"disk full: {text}"
    return RetryLater(text, persistent=persistent)
