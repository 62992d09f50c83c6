"""A control plane as a destination: journal frames become wire-protocol requests.

A batch of frames is grouped by run (start, records by endpoint, completion, in journal
order). A server that advertises ``batch_ingest`` in ``config/`` (ours does) gets many runs
per request; any other control plane gets the per-run protocol of the specification
(``runs/start/``, one request per record endpoint, ``complete/``).

Outcomes follow the protocol: 5xx, 429, timeouts and connection errors mean "try the whole
batch again later" (:class:`RetryLater`; the server stores idempotently, so what it already
took is not duplicated); any other 4xx is final for what that request carried (counted as
dropped with the server's reason); a 413 halves the number of runs per request.

Against the batch endpoint the destination is pipelined
(:class:`~waxell_observe.pipeline.destination.Pipelined`): the drainer hands over the next batch
while the server stores the previous one (:data:`MAX_IN_FLIGHT` at once), so the SDK's encoding
and the server's and the database's work overlap. The runs of a batch that an earlier batch
still in flight also carries (a run it starts, a parent it starts) go in a second request, sent
only once that batch was delivered — never when it failed (the server would answer 404 for a
run it does not know yet). Request bodies are written by msgspec.

Replies that carry governance are kept for the run they concern: a mid-execution verdict
for :meth:`RemoteDestination.take_verdicts` (``mid_execution_governance``), and the
post-execution outcome of ``complete/`` applied to the live run when it is still in this
process (:mod:`waxell_observe.pipeline.live_runs`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from waxell_observe.pipeline import frames as fr
from waxell_observe.pipeline import live_runs
from waxell_observe.pipeline.destination import Delivered, RetryLater

__all__ = ["RemoteDestination", "DELIVERY_TIMEOUT", "RunEntry", "remote_key", "group"]

logger = logging.getLogger("waxell_observe")

DELIVERY_TIMEOUT = 5.0
"""Seconds one delivery request may take."""
PER_RUN_CHUNK = 1000
"""Most records in one per-run request."""
PER_RUN_SENDERS = 4
"""Runs delivered at the same time through the per-run protocol."""
PER_RUN_BATCH_FRAMES = 200
"""Frames a per-run delivery takes at once (acknowledged together)."""
MAX_IN_FLIGHT = 2
"""Batches sent to the batch endpoint before the first of them is answered."""

_encode = msgspec.json.Encoder().encode
"""JSON bytes of a request body (non-finite floats become ``null``: JSON has no NaN)."""


class RunEntry:
    """One run's part of a batch."""

    __slots__ = (
        "run_id",
        "start",
        "llm_calls",
        "steps",
        "spans",
        "scores",
        "end",
        "frames",
        "span_positions",
    )

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.start: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.llm_calls: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.spans: list[dict[str, Any]] = []
        self.scores: list[dict[str, Any]] = []
        self.frames = 0
        self.span_positions: dict[str, int] = {}

    def started_at(self) -> float:
        for snapshot in (self.end, self.start):
            if snapshot and snapshot.get("started_at"):
                return float(snapshot["started_at"])
        return 0.0


class _Ticket:
    """A batch handed over to the batch endpoint: the runs it carries; ``done`` once its
    delivery ended, ``ok`` when it was delivered (refusals included: they are final)."""

    __slots__ = ("runs", "done", "ok")

    def __init__(self, runs: set[str]) -> None:
        self.runs = runs
        self.done = threading.Event()
        self.ok = False


def _parent(entry: RunEntry) -> str:
    return str((entry.start or {}).get("parent_run_id") or "")


def _waves(entries: list[RunEntry]) -> list[list[RunEntry]]:
    """``entries`` in waves: a run started in this batch is in a later wave than its parent's
    start, so the server knows the parent when the child starts."""
    starting = {entry.run_id for entry in entries if entry.start is not None}
    waves: list[list[RunEntry]] = []
    placed: dict[str, int] = {}
    for entry in entries:
        parent = (entry.start or {}).get("parent_run_id") or ""
        level = placed[parent] + 1 if parent in starting and parent in placed else 0
        placed[entry.run_id] = level
        while len(waves) <= level:
            waves.append([])
        waves[level].append(entry)
    return waves


def group(frames: list[list[Any]]) -> list[RunEntry]:
    """Frames grouped by run, in order of first appearance."""
    entries: dict[str, RunEntry] = {}
    for frame in frames:
        run_id = frame[2]
        entry = entries.get(run_id)
        if entry is None:
            entry = entries[run_id] = RunEntry(run_id)
        entry.frames += 1
        kind = frame[0]
        view = fr.as_dict(frame)
        if kind == fr.START:
            entry.start = view
        elif kind == fr.END:
            entry.end = view
        elif kind == fr.LLM:
            entry.llm_calls.append(view)
        elif kind == fr.STEP:
            entry.steps.append(view)
        elif kind == fr.SPAN:
            entry.spans.append(view)
        elif kind == fr.SCORE:
            entry.scores.append(view)
    return list(entries.values())


def _live_conversation(run_id: str) -> dict[str, Any]:
    """The current conversation state of a run still running in this process ({} otherwise):
    mid-execution governance on the server reads it with the records."""
    from waxell_observe.transport import wire

    run = live_runs.get(run_id)
    return wire.conversation_state(run) if run is not None else {}


def remote_key(api_url: str, api_key: str) -> str:
    """The destination key of a control plane (a digest of the API key, never the key itself: it
    names the acknowledged-position file; the key is in the journal's route frames, in files only the
    user can read)."""
    return f"remote:{api_url}#{hashlib.sha1(api_key.encode()).hexdigest()[:12]}"


class RemoteDestination:
    """Delivers frames to the control plane at ``api_url``."""

    name = "remote"

    def __init__(self, api_url: str, api_key: str) -> None:
        # Imported here, on the drainer's thread under the pipeline's import guard (a fork waits).
        import certifi  # noqa: F401 - what httpx imports lazily when its first client is made
        import httpcore  # noqa: F401
        import httpx  # noqa: F401

        from waxell_observe.client import WaxellObserveClient
        from waxell_observe.config import resolve_config
        from waxell_observe.transport import wire  # noqa: F401

        self.api_url = api_url
        self.key = remote_key(api_url, api_key)
        config = resolve_config(api_url=api_url, api_key=api_key)
        self.client = WaxellObserveClient.from_config(config, timeout=DELIVERY_TIMEOUT)
        # The HTTP client now too: making it imports more lazily (certifi's resources), and a fork
        # during that import would leave a child with a half-imported module.
        self.client._pools.sync_client()
        self.probed = False
        self.per_run_chunk = PER_RUN_CHUNK
        self.max_batch_frames = PER_RUN_BATCH_FRAMES
        """Frames the drainer hands over at once: few for the per-run protocol (a batch is
        acknowledged whole, and it takes one request per record kind per run), many once the
        server takes batches."""
        self.batch_path = ""
        self.batch_max_runs = 500
        self.ids: dict[str, tuple[str, str]] = {}
        """Our run id -> (server run id, server workflow id) where the server chose its own."""
        self._unsaved_ids: list[str] = []
        """Those learned since the last :meth:`deliver` returned, as notes to keep (a process
        adopting the journal sends the rest of such a run under the server's id)."""
        self._verdicts: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._logged: set[tuple[Any, ...]] = set()
        self.max_in_flight = 1
        """Batches the drainer may hand over at once: :data:`MAX_IN_FLIGHT` once the server
        is known to take batches (the per-run protocol takes one at a time)."""
        self._tickets: list[_Ticket] = []
        """Batches handed over whose delivery may not have ended (the drainer's thread only)."""
        # What replies lead to, imported now rather than on a sending thread (a fork waits
        # for the drainer's imports, not for those of other threads).
        from waxell_observe.governance import results  # noqa: F401

    # -- what the SDK's other parts ask -------------------------------------------------------------

    def server_ids(self, run_id: str) -> tuple[str, str]:
        return self.ids.get(run_id, (run_id, run_id))

    def take_verdicts(self, run_id: str) -> list[Any]:
        with self._lock:
            return self._verdicts.pop(run_id, [])

    # -- delivery ----------------------------------------------------------------------------------

    def deliver(self, frames: list[list[Any]]) -> Delivered:
        if not self.probed:
            self._probe()
        entries = group(frames)
        outcome = Delivered()
        if self.batch_path:
            self._send_entries(entries, [self._entry_body(entry) for entry in entries], outcome)
        else:
            self._send_runs(entries, outcome)
        return self._with_notes(outcome)

    def submit(self, frames: list[list[Any]]) -> Callable[[], Delivered]:
        """Encode ``frames`` for the batch endpoint now (the drainer's thread, in journal order);
        the returned function sends them. Runs that a batch still in flight also carries are
        sent after it, in a second request, and only if it was delivered."""
        if not self.probed:
            self._probe()
        if not self.batch_path:
            return lambda: self.deliver(frames)
        entries = group(frames)
        earlier = [ticket for ticket in self._tickets if not ticket.done.is_set()]
        now, later = entries, []
        if earlier:
            busy = set().union(*(other.runs for other in earlier))
            now = [entry for entry in entries if entry.run_id not in busy and _parent(entry) not in busy]
            later = [entry for entry in entries if entry.run_id in busy or _parent(entry) in busy]
        bodies = [self._entry_body(entry) for entry in now]
        # Registered only now that nothing here can fail: a later batch waits for this one's end.
        ticket = _Ticket({entry.run_id for entry in entries})
        self._tickets = [*earlier, ticket]

        def send() -> Delivered:
            outcome = Delivered()
            try:
                self._send_entries(now, bodies, outcome)
                if later:
                    for other in earlier:
                        other.done.wait()
                    if not all(other.ok for other in earlier):
                        raise RetryLater("an earlier batch of the same runs was not delivered")
                    self._send_entries(later, [self._entry_body(entry) for entry in later], outcome)
                ticket.ok = True
            finally:
                ticket.done.set()
            return self._with_notes(outcome)

        return send

    def _with_notes(self, outcome: Delivered) -> Delivered:
        with self._lock:
            outcome.notes, self._unsaved_ids = self._unsaved_ids, []
        return outcome

    def _send_entries(
        self, entries: list[RunEntry], bodies: list[dict[str, Any]], outcome: Delivered
    ) -> None:
        """``entries`` (as ``bodies``) to the batch endpoint, at most ``batch_max_runs`` a request."""
        size = self.batch_max_runs
        index = 0
        while index < len(entries):
            chunk = entries[index : index + size]
            if self._send_batch(chunk, bodies[index : index + size], outcome):
                index += len(chunk)
            else:  # 413: fewer runs per request
                size = max(1, len(chunk) // 2)
                self.batch_max_runs = size

    def recall(self, notes: list[str]) -> None:
        """Ids the server chose for runs of an adopted journal, as kept by :meth:`deliver`
        (``<our id> <server run id> <server workflow id>`` per line)."""
        with self._lock:
            for note in notes:
                parts = note.split(" ")
                if len(parts) == 3 and all(parts):
                    self.ids[parts[0]] = (parts[1], parts[2])

    def _send_runs(self, entries: list[RunEntry], outcome: Delivered) -> None:
        """The per-run protocol: each run's requests in order, :data:`PER_RUN_SENDERS` runs at a
        time on daemon threads (the server's latency overlaps; interpreter exit never waits for
        them). A temporary failure of any run fails the batch (sent again later; the server
        stores idempotently)."""
        retry: list[RetryLater] = []
        for wave in _waves(entries):  # a nested run's start goes after its parent's
            parts = [Delivered() for _ in wave]
            work = list(zip(wave, parts, strict=True))
            lock = threading.Lock()
            failures: list[BaseException] = []
            threads = [
                threading.Thread(
                    target=self._sender,
                    args=(work, lock, retry, failures),
                    name="waxell-remote-send",
                    daemon=True,
                )
                for _ in range(min(PER_RUN_SENDERS, len(work)))
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for part in parts:
                for reason, count in part.refused.items():
                    outcome.refuse(reason, count)
            if retry:
                raise retry[0]
            if failures:
                raise failures[0]

    def _sender(
        self,
        work: list[tuple[RunEntry, Delivered]],
        lock: threading.Lock,
        retry: list[RetryLater],
        failures: list[BaseException],
    ) -> None:
        """One sender thread of :meth:`_send_runs`: sends runs taken off ``work`` until none is
        left or one has to be retried."""
        while True:
            with lock:
                if not work or retry:
                    return
                entry, part = work.pop(0)
            try:
                self._send_run(entry, part)
            except RetryLater as exc:
                with lock:
                    retry.append(exc)
            except Exception as exc:  # noqa: BLE001 - handed to the drainer as this run's failure
                with lock:
                    failures.append(exc)

    def _probe(self) -> None:
        """Ask ``config/`` whether the server takes batches (a failure to answer: retry later)."""
        from waxell_observe.transport.errors import ControlPlaneError

        try:
            reply = self.client.request_sync("GET", "config/", timeout=DELIVERY_TIMEOUT)
        except ControlPlaneError as exc:
            if exc.retryable:
                raise RetryLater(str(exc), after=exc.retry_after) from exc
            reply = {}  # a server without config/ (or refusing it) speaks the per-run protocol
        path = reply.get("batch_ingest") if isinstance(reply, dict) else None
        if isinstance(path, str) and path:
            self.batch_path = path.lstrip("/")
            self.max_batch_frames = 4096
            self.max_in_flight = MAX_IN_FLIGHT
            limit = reply.get("batch_max_runs")
            if isinstance(limit, int) and limit > 0:
                self.batch_max_runs = min(self.batch_max_runs, limit)
        self.probed = True

    def _post(self, path: str, body: Any, *, traceparent: str = "") -> dict[str, Any]:
        """POST ``body``; raises RetryLater for temporary failures, ControlPlaneError for final ones."""
        from waxell_observe.transport.errors import ControlPlaneError

        try:
            return self.client.request_sync(
                "POST", path, content=_encode(body), timeout=DELIVERY_TIMEOUT,
                headers={"traceparent": traceparent} if traceparent else None,
            )  # fmt: skip
        except ControlPlaneError as exc:
            if exc.accepted:
                return {}
            if exc.retryable:
                raise RetryLater(str(exc), after=exc.retry_after) from exc
            raise

    # -- the batch endpoint (our server) ------------------------------------------------------------

    def _entry_body(self, entry: RunEntry) -> dict[str, Any]:
        from waxell_observe.transport import wire

        body: dict[str, Any] = {"run_id": entry.run_id}
        run_started = entry.started_at()
        if entry.start is not None:
            start = wire.start_body(entry.start)
            if entry.end is not None and entry.end.get("started_at"):
                start["started_at"] = entry.end["started_at"]  # moved (automatic runs)
            body["start"] = self._mapped(start)
        if entry.llm_calls:
            body["llm_calls"] = [wire.llm_call(call) for call in entry.llm_calls]
        if entry.steps:
            body["steps"] = [wire.step(step) for step in entry.steps]
        if entry.spans:
            body["spans"] = self._spans(entry, run_started)
        if entry.scores:
            body["scores"] = [wire.score(score) for score in entry.scores]
        if entry.end is not None:
            body["complete"] = wire.complete_body(entry.end)
        elif entry.llm_calls or entry.steps:
            conversation = _live_conversation(entry.run_id)
            if conversation:
                body["conversation_state"] = conversation
        return body

    def _spans(self, entry: RunEntry, run_started: float) -> list[dict[str, Any]]:
        from waxell_observe.transport import wire

        records = []
        positions = entry.span_positions
        for span in entry.spans:
            positions[span["id"]] = span["position"]
            parent = positions.get(span["parent_span_id"]) if span["parent_span_id"] else None
            records.append(wire.span(span, run_started, parent))
        return records

    def _send_batch(self, entries: list[RunEntry], bodies: list[dict[str, Any]], outcome: Delivered) -> bool:
        """One batch request; False after a 413 (the caller sends fewer runs per request)."""
        from waxell_observe.transport.errors import ControlPlaneError

        try:
            reply = self._post(self.batch_path, {"runs": bodies})
        except ControlPlaneError as exc:
            if exc.status == 413 and len(entries) > 1:
                logger.info(
                    "waxell-observe: %s refused %d runs in one request as too large; sending fewer",
                    self.api_url, len(entries),
                )  # fmt: skip
                return False
            reason = f"batch of {len(entries)} run(s) refused: {exc}"
            self._log_refusal(exc.status, "batch", reason)
            outcome.refuse(reason, sum(entry.frames for entry in entries))
            return True
        results = reply.get("runs") if isinstance(reply, dict) else None
        if not isinstance(results, list) or len(results) != len(entries):
            raise RetryLater(f"{self.batch_path}: unexpected reply (no per-run results)")
        for entry, result in zip(entries, results, strict=True):
            self._batch_result(entry, result if isinstance(result, dict) else {}, outcome)
        return True

    def _batch_result(self, entry: RunEntry, result: dict[str, Any], outcome: Delivered) -> None:
        status = result.get("status")
        if isinstance(status, int) and status >= 400:
            reason = f"run {entry.run_id} refused ({status}): {result.get('error') or 'no reason given'}"
            self._log_refusal(status, "batch-run", reason)
            outcome.refuse(reason, entry.frames)
            return
        self._note_ids(entry.run_id, result)
        governance = result.get("governance")
        if isinstance(governance, dict) and governance.get("action"):
            self._keep_verdict(entry.run_id, governance)
        completion = result.get("complete")
        if isinstance(completion, dict):
            live_runs.apply_completion(entry.run_id, completion.get("governance"))

    # -- the per-run protocol (any control plane) ---------------------------------------------------

    def _send_run(self, entry: RunEntry, outcome: Delivered) -> None:
        from waxell_observe.transport import wire
        from waxell_observe.transport.errors import ControlPlaneError

        traceparent = wire.traceparent(entry.end or entry.start or {})
        run_started = entry.started_at()
        try:
            if entry.start is not None:
                start = entry.start
                if entry.end is not None and entry.end.get("started_at"):
                    start = {**start, "started_at": entry.end["started_at"]}
                reply = self._post(
                    "runs/start/", self._mapped(wire.start_body(start)), traceparent=traceparent
                )
                self._note_ids(entry.run_id, reply)
        except ControlPlaneError as exc:
            reason = f"start of run {entry.run_id} refused: {exc}"
            self._log_refusal(exc.status, "start", reason)
            outcome.refuse(reason, entry.frames)
            return
        server_id = self.server_ids(entry.run_id)[0]
        behaviour = [step for step in (wire.behaviour_step(span) for span in entry.spans) if step is not None]
        steps = sorted(
            [wire.step(step) for step in entry.steps] + behaviour, key=lambda step: step.get("seq") or 0
        )
        parts: list[tuple[str, str, list[dict[str, Any]], int]] = [
            ("llm-calls", "calls", [wire.llm_call(call) for call in entry.llm_calls], len(entry.llm_calls)),
            ("spans", "spans", self._spans(entry, run_started), len(entry.spans)),
            ("steps", "steps", steps, len(entry.steps)),
            ("scores", "scores", [wire.score(score) for score in entry.scores], len(entry.scores)),
        ]
        conversation = _live_conversation(entry.run_id)
        for endpoint, key, records, weight in parts:
            index = 0
            while index < len(records):
                chunk = records[index : index + self.per_run_chunk]
                body: dict[str, Any] = {key: chunk}
                if conversation and endpoint in ("llm-calls", "steps"):
                    body["conversation_state"] = conversation
                try:
                    reply = self._post(f"runs/{server_id}/{endpoint}/", body, traceparent=traceparent)
                except ControlPlaneError as exc:
                    if exc.status == 413 and len(chunk) > 1:  # too large: fewer records per request
                        self.per_run_chunk = max(1, len(chunk) // 2)
                        continue
                    reason = f"{endpoint} of run {entry.run_id} refused: {exc}"
                    self._log_refusal(exc.status, endpoint, reason)
                    outcome.refuse(reason, min(weight, len(chunk)))
                    index += len(chunk)
                    continue
                index += len(chunk)
                governance = reply.get("governance") if isinstance(reply, dict) else None
                if isinstance(governance, dict) and governance.get("action"):
                    self._keep_verdict(entry.run_id, governance)
        if entry.end is not None:
            try:
                reply = self._post(
                    f"runs/{server_id}/complete/", wire.complete_body(entry.end), traceparent=traceparent
                )
            except ControlPlaneError as exc:
                reason = f"completion of run {entry.run_id} refused: {exc}"
                self._log_refusal(exc.status, "complete", reason)
                outcome.refuse(reason)
                return
            live_runs.apply_completion(
                entry.run_id, reply.get("governance") if isinstance(reply, dict) else None
            )

    # -- helpers ------------------------------------------------------------------------------------

    def _mapped(self, body: dict[str, Any]) -> dict[str, Any]:
        """Parent/root run ids in the server's ids (where it chose its own)."""
        for field in ("parent_workflow_id", "root_workflow_id"):
            value = body.get(field)
            known = self.ids.get(value) if value else None  # (learned on other threads)
            if known is not None:
                body[field] = known[1]
        return body

    def _note_ids(self, run_id: str, reply: Any) -> None:
        if not isinstance(reply, dict):
            return
        server_id = reply.get("run_id") or reply.get("workflow_id")
        if server_id and str(server_id) != run_id:
            workflow = str(reply.get("workflow_id") or server_id)
            with self._lock:  # runs are delivered from several sender threads
                self.ids[run_id] = (str(server_id), workflow)
                note = f"{run_id} {server_id} {workflow}"
                if len(note.split()) == 3:  # ids with whitespace cannot be kept as a note line
                    self._unsaved_ids.append(note)
                if len(self.ids) > 100_000:
                    del self.ids[next(iter(self.ids))]

    def _keep_verdict(self, run_id: str, governance: dict[str, Any]) -> None:
        from waxell_observe.governance.results import PolicyCheckResult

        result = PolicyCheckResult.from_dict(governance)
        with self._lock:
            self._verdicts.setdefault(run_id, []).append(result)
            if len(self._verdicts) > 10_000:
                del self._verdicts[next(iter(self._verdicts))]
        if result.blocked and ("block", run_id) not in self._logged:
            self._logged.add(("block", run_id))
            logger.warning(
                "waxell-observe: the control plane answered %s "
                "for run %s mid-way (%s); it stops the run only with mid_execution_governance=True",
                result.action, run_id, result.reason,
            )  # fmt: skip

    def _log_refusal(self, status: int | None, what: str, reason: str) -> None:
        key = (status, what)
        if key not in self._logged:
            self._logged.add(key)
            logger.warning(
                "waxell-observe: control plane %s refused %s; dropped (not retried)", self.api_url, reason
            )

    def close(self) -> None:
        self.client.close_sync()
