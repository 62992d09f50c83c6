"""Reading a journal: frames from a position, this process's own journal through its live
mappings, another process's through read-only mappings of its segment files."""

from __future__ import annotations

import contextlib
import mmap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from waxell_observe.pipeline.layout import (
    END_OF_SEGMENT,
    HEADER_BYTES,
    _align,
    _unpack_u32,
    peek,
    position,
    segment_name,
    segment_numbers,
    split_position,
)

if TYPE_CHECKING:
    from waxell_observe.pipeline.journal import Journal

__all__ = ["JournalReader"]


class JournalReader:
    """Reads frames of a journal directory from a position (this process's own journal through
    its live mappings, another's through read-only mappings of its segment files)."""

    def __init__(self, directory: Path, *, live: Journal | None = None) -> None:
        self.directory = directory
        self.live = live
        self._maps: dict[int, mmap.mmap] = {}

    def _segment(self, number: int) -> mmap.mmap | None:
        live = self.live
        if live is not None:
            return live.segments.get(number)
        mm = self._maps.get(number)
        if mm is None:
            try:
                with open(self.directory / segment_name(number), "rb") as handle:
                    mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except (FileNotFoundError, ValueError):
                return None
            self._maps[number] = mm
        return mm

    def first_position(self) -> int:
        numbers = sorted(self.live.segments) if self.live is not None else segment_numbers(self.directory)
        return position(numbers[0], HEADER_BYTES) if numbers else position(1, HEADER_BYTES)

    def read(
        self, start: int, *, max_frames: int = 4096, max_bytes: int = 8 << 20, end: int | None = None
    ) -> tuple[list[bytes], int]:
        """Frames from ``start`` (at most ``max_frames`` / about ``max_bytes``, none at or past
        ``end``) and the position after them."""
        frames: list[bytes] = []
        segment, offset = split_position(start)
        total = 0
        while len(frames) < max_frames and total < max_bytes:
            if end is not None and position(segment, offset) >= end:
                break
            mm = self._segment(segment)
            if mm is None:
                later = [n for n in self._known_segments() if n > segment]
                if not later:
                    break
                segment, offset = later[0], HEADER_BYTES
                continue
            if offset < HEADER_BYTES:
                offset = HEADER_BYTES
            size_limit = len(mm)
            if offset + 4 > size_limit:
                break
            try:
                length = _unpack_u32(mm, offset)[0]
            except ValueError:  # the mapping was closed under us (segment released)
                break
            if length == 0:
                break
            if length == END_OF_SEGMENT:
                self._forget(segment)
                segment, offset = segment + 1, HEADER_BYTES
                continue
            frame_end = offset + 4 + length
            if frame_end > size_limit:
                break  # torn (never written whole): nothing valid follows in this segment
            frames.append(mm[offset + 4 : frame_end])
            total += length
            offset = _align(frame_end)
        return frames, position(segment, offset)

    def walk(self, start: int, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
        """``(position, next position, kind, route)`` of every frame from ``start`` (to ``end``),
        without copying payloads: the kind and route are read from the frame's first bytes."""
        segment, offset = split_position(start)
        while end is None or position(segment, offset) < end:
            mm = self._segment(segment)
            if mm is None:
                later = [n for n in self._known_segments() if n > segment]
                if not later:
                    return
                segment, offset = later[0], HEADER_BYTES
                continue
            offset = max(offset, HEADER_BYTES)
            if offset + 4 > len(mm):
                return
            try:
                length = _unpack_u32(mm, offset)[0]
            except ValueError:
                return
            if length == 0:
                return
            if length == END_OF_SEGMENT:
                segment, offset = segment + 1, HEADER_BYTES
                continue
            if offset + 4 + length > len(mm):
                return
            kind, route = peek(mm[offset + 4 : offset + 4 + min(length, 8)])
            following = _align(offset + 4 + length)
            yield position(segment, offset), position(segment, following), kind, route
            offset = following

    def frame_at(self, pos: int) -> bytes | None:
        segment, offset = split_position(pos)
        mm = self._segment(segment)
        if mm is None:
            return None
        length = _unpack_u32(mm, offset)[0]
        if length in (0, END_OF_SEGMENT):
            return None
        return mm[offset + 4 : offset + 4 + length]

    def _known_segments(self) -> list[int]:
        if self.live is not None:
            return sorted(self.live.segments)
        return segment_numbers(self.directory)

    def _forget(self, number: int) -> None:
        if self.live is None:
            mm = self._maps.pop(number, None)
            if mm is not None:
                with contextlib.suppress(BufferError, ValueError):
                    mm.close()

    def close(self) -> None:
        for mm in self._maps.values():
            with contextlib.suppress(BufferError, ValueError):
                mm.close()
        self._maps.clear()
