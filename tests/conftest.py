from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True, scope="session")
def _fit_cache(tmp_path_factory: pytest.TempPathFactory):
    """Held-out fits (validation.fitcache) go to a cache of the test session, never the user's;
    CLI subprocesses inherit it."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ROOFLINE_CACHE_DIR", str(tmp_path_factory.mktemp("fits")))
    yield
    patch.undo()
