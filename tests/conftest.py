import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VECTORWAN_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's read-only ../shared folder; tests that need it skip cleanly without it."""
    if not SHARED.is_dir():
        pytest.skip(f"shared folder not present at {SHARED} (set VECTORWAN_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def tiger16(shared_dir) -> Path:
    p = shared_dir / "data" / "tiger16"
    if not (p / "metadata.csv").is_file():
        pytest.skip(f"tiger16 dataset not present at {p}")
    return p
