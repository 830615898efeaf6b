"""How the upload client reads a photo: the size limit before the file is loaded, and a file rewritten while it
is being uploaded."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

from sitelens.upload import Answer
from tests.unit.uploads.fakes import ScriptedStorage
from tests.unit.uploads.test_client import JPEG, Api, uploader

MIB = 1 << 20


def sparse_jpeg(path: Path, size: int) -> Path:
    """A misnamed video, say: a JPEG's first bytes and `size` bytes in all, taking no disk space."""
    with path.open("wb") as handle:
        handle.write(JPEG[:4])
        handle.truncate(size)
    return path


def test_a_file_over_the_limit_is_refused_without_loading_it(tmp_path):
    api, storage = Api(), ScriptedStorage()  # the API's limit: 1 MiB
    client = uploader(api, storage, tmp_path)
    tracemalloc.start()
    try:
        first = client.upload(sparse_jpeg(tmp_path / "CLIP_0001.jpg", 64 * MIB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert first.status == "failed" and (first.reason or "").startswith("too_large")
    assert peak < 8 * MIB  # hashed in chunks, never held whole
    assert storage.calls == []


def test_the_limit_is_the_one_the_service_names_now_not_an_earlier_one(tmp_path):
    """A long-running agent keeps one client: a limit raised by the operator must let a larger photo through."""

    class RaisedLimit(Api):
        def __call__(self, body: dict[str, Any]) -> Answer:
            answer = super().__call__(body)
            return answer._replace(doc={**answer.doc, "max_bytes": 1 << 20 if len(self.bodies) == 1 else 4 << 20})

    storage = ScriptedStorage()
    client = uploader(RaisedLimit(), storage, tmp_path)
    assert (client.upload(sparse_jpeg(tmp_path / "a.jpg", 2 * MIB)).reason or "").startswith("too_large")
    assert client.upload(sparse_jpeg(tmp_path / "b.jpg", 2 * MIB)).status == "uploaded"


def test_a_file_rewritten_while_it_uploads_is_not_sent_under_the_old_contents_id(tmp_path):
    photo = tmp_path / "IMG_0003.jpg"
    photo.write_bytes(JPEG)

    class RewritingApi(Api):
        def __call__(self, body: dict[str, Any]) -> Answer:
            photo.write_bytes(JPEG[::-1])  # the camera writes the file again after it was hashed
            return super().__call__(body)

    storage = ScriptedStorage()
    outcome = uploader(RewritingApi(), storage, tmp_path).upload(photo)
    assert outcome.status == "failed" and (outcome.reason or "").startswith("unreadable") and storage.calls == []
