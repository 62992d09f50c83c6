"""The journal's layout on disk: segment files, frame positions, and a frame's first bytes.

A segment is a 16-byte header (``MAGIC``, a version, the reserved length) followed by frames
``[u32 length][payload]``, each 4-byte aligned; ``END_OF_SEGMENT`` as a length closes the segment.
A position is ``segment << 32 | offset``.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

__all__ = [
    "MAGIC",
    "HEADER_BYTES",
    "DEFAULT_SEGMENT_BYTES",
    "END_OF_SEGMENT",
    "LOCK_NAME",
    "position",
    "split_position",
    "segment_name",
    "segment_numbers",
    "peek",
]

MAGIC = b"WXJ1"
HEADER_BYTES = 16
DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024
END_OF_SEGMENT = 0xFFFFFFFF
LOCK_NAME = "owner.lock"
SEGMENT_PREFIX = "seg-"
SEGMENT_SUFFIX = ".wj"

_U32 = struct.Struct("<I")
_pack_u32 = _U32.pack_into
_unpack_u32 = _U32.unpack_from


def position(segment: int, offset: int) -> int:
    return (segment << 32) | offset


def split_position(pos: int) -> tuple[int, int]:
    return pos >> 32, pos & 0xFFFFFFFF


def segment_name(number: int) -> str:
    return f"{SEGMENT_PREFIX}{number:08d}{SEGMENT_SUFFIX}"


def segment_numbers(directory: Path) -> list[int]:
    numbers = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            name = entry.name
            if name.startswith(SEGMENT_PREFIX) and name.endswith(SEGMENT_SUFFIX):
                with contextlib.suppress(ValueError):
                    numbers.append(int(name[len(SEGMENT_PREFIX) : -len(SEGMENT_SUFFIX)]))
    return sorted(numbers)


def _align(offset: int) -> int:
    return (offset + 3) & ~3


def peek(data: bytes | memoryview) -> tuple[int, int]:
    """``(kind, route)`` of an encoded frame from its first bytes (-1 when they are not the
    small integers every frame starts with)."""
    if not data:
        return -1, -1
    first = data[0]
    if 0x90 <= first <= 0x9F:
        at = 1
    elif first == 0xDC:
        at = 3
    else:
        return -1, -1
    if len(data) < at + 2:
        return -1, -1
    kind, route = data[at], data[at + 1]
    if kind > 0x7F:
        return -1, -1
    if route > 0x7F:
        # a route id of 128 or more: a uint8 (0xCC) or uint16 (0xCD) follows
        if route == 0xCC and len(data) > at + 2:
            return kind, data[at + 2]
        if route == 0xCD and len(data) > at + 3:
            return kind, (data[at + 2] << 8) | data[at + 3]
        return kind, -1
    return kind, route
