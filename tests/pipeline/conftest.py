"""Fixtures of the pipeline fault-matrix tests: real processes over one store and journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from programs import Programs


@pytest.fixture
def programs(tmp_path: Path) -> Programs:
    return Programs(tmp_path)
