"""The embedded store as a destination, fed with the frames the SDK really journals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from waxell_observe import WaxellContext, hookimpl
from waxell_observe.config import db_url_from
from waxell_observe.pipeline import frames
from waxell_observe.pipeline.store_destination import StoreDestination
from waxell_observe.store import get_store
from waxell_observe.store.reader import get_run

ROUTE = 1


class FrameTap:
    """Keeps the frames of every run recorded while it is registered, as the drainer decodes them."""

    def __init__(self) -> None:
        self.frames: list[list[Any]] = []

    @hookimpl
    def on_run_start(self, run: Any) -> None:
        self.frames.append(frames.decode(frames.encode_start(ROUTE, run)))

    @hookimpl
    def on_llm_call(self, run: Any, call: Any) -> None:
        self.frames.append(frames.decode(frames.encode_llm(ROUTE, run.run_id, call)))

    @hookimpl
    def on_run_end(self, run: Any) -> None:
        self.frames.append(frames.decode(frames.encode_end(ROUTE, run)))


def test_runs_whole_or_open_and_malformed_frames_refused_one_by_one(
    tmp_path: Path, register_plugin: Any
) -> None:
    tap = FrameTap()
    register_plugin(tap)
    with WaxellContext(agent_name="done", enforce_policy=False) as done:
        done.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=5)
    open_run = WaxellContext(agent_name="open", enforce_policy=False)
    open_run.__enter__()
    try:
        batch = [*tap.frames, [frames.START, ROUTE, "short"], [frames.LLM, ROUTE, "short"]]
        assert [frame[0] for frame in batch] == [
            frames.START, frames.LLM, frames.END, frames.START, frames.START, frames.LLM,
        ]  # fmt: skip
        url = db_url_from(str(tmp_path / "destination.db"))
        outcome = StoreDestination(url).deliver(batch)
    finally:
        open_run.__exit__(None, None, None)
    assert outcome is not None
    assert outcome.refused == {
        "malformed start frame (IndexError: list index out of range)": 1,
        "malformed llm frame (IndexError: list index out of range)": 1,
    }
    with get_store(url).read() as conn:
        stored_done = get_run(conn, done.run_id)
        stored_open = get_run(conn, open_run.run_id)
        assert get_run(conn, "short") is None
    assert stored_done is not None and stored_open is not None
    assert (stored_done["agent_name"], stored_done["status"], len(stored_done["llm_calls"])) == (
        "done",
        "success",
        1,
    )
    assert (stored_done["tokens_in"], stored_done["tokens_out"]) == (10, 5)
    assert (stored_open["agent_name"], stored_open["status"], stored_open["llm_calls"]) == (
        "open",
        "running",
        [],
    )
