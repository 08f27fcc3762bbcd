"""Shared test helpers: the real sample data folder (tests skip when absent)."""
from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@pytest.fixture
def real_data() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"real sample data not found at {REAL}")
    return REAL
