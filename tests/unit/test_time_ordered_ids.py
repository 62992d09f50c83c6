"""Run and record ids: 32 hex characters that begin with the millisecond they were made (so the
store's indexes grow at their end), unique, and shown by their random end."""

from __future__ import annotations

import os
import time

from waxell_observe import records
from waxell_observe.records import new_id, short_id


def test_ids_are_32_hex_characters_unique_and_begin_with_their_millisecond() -> None:
    records._pool.clear()  # ids made from now on (not left over from an earlier pool)
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(5_000)]
    after = time.time_ns() // 1_000_000
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in ids)
    assert len(set(ids)) == 5_000
    stamps = [int(value[:12], 16) for value in ids]
    assert before <= stamps[0] and stamps[-1] <= after
    assert stamps == sorted(stamps)  # drawn later, never made earlier
    records._pool.clear()  # the next 256 ids are made together: in sequence order
    batch = [new_id() for _ in range(256)]
    assert batch == sorted(batch) and len({value[:12] for value in batch}) == 1


def test_the_short_form_is_the_random_end() -> None:
    value = new_id()
    assert short_id(value) == value[-12:] and short_id(value, 8) == value[-8:]
    same_moment = [new_id() for _ in range(200)]
    assert len({short_id(v) for v in same_moment}) == 200  # distinct where the beginnings are shared


def test_a_forked_child_never_repeats_the_parents_ids() -> None:
    new_id()  # a pool is made in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids after the fork
        os.close(read)
        os.write(write, "".join(new_id() for _ in range(300)).encode())
        os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    assert os.waitpid(pid, 0)[1] == 0
    child = {data[i : i + 32].decode() for i in range(0, len(data), 32)}
    parent = {new_id() for _ in range(300)}
    assert len(child) == 300 and not child & parent
