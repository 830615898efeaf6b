"""Output file patterns: what they match and the blob names they get."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.batch_service.files import FileFailure, blob_name, download_resources, expand, matches


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    for name in ("stdout.txt", "stderr.txt", "wd/result.json", "wd/out/a.json", "wd/out/deep/b.json", "wd/.hidden"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


@pytest.mark.parametrize(
    ("pattern", "path", "blobs"),
    [
        ("result.json", "job/1/result.json", ["job/1/result.json"]),  # no wildcard: path is the blob
        ("result.json", None, ["result.json"]),
        ("../std*.txt", "logs", ["logs/stderr.txt", "logs/stdout.txt"]),  # below the pattern's fixed folders
        ("out/*.json", "r", ["r/a.json"]),
        ("out/**/*.json", "r/", ["r/a.json", "r/deep/b.json"]),
        ("**/*.json", None, ["out/a.json", "out/deep/b.json", "result.json"]),
        ("*", "all", ["all/result.json"]),  # files only; a leading dot needs an explicit dot
        ("nothing*.bin", "x", []),
    ],
)
def test_patterns_and_blob_names(task_dir, pattern, path, blobs):
    wd = task_dir / "wd"
    assert sorted(blob_name(pattern, path, rel) for _, rel in matches(pattern, wd)) == blobs


def test_an_absolute_pattern_from_an_environment_variable(task_dir):
    pattern = expand("$AZ_BATCH_TASK_DIR/std*.txt", {"AZ_BATCH_TASK_DIR": str(task_dir)})
    assert [rel for _, rel in matches(pattern, task_dir / "wd")] == ["stderr.txt", "stdout.txt"]
    assert expand("${HOME}/x/$UNKNOWN", {"HOME": "/h"}) == "/h/x/$UNKNOWN"


def test_a_resource_file_cannot_escape_the_working_directory(tmp_path):
    with pytest.raises(FileFailure) as e:
        download_resources([{"httpUrl": "http://127.0.0.1:9/x", "filePath": "../../etc/x"}], tmp_path)
    assert e.value.category == "usererror"
