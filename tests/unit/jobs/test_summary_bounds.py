"""Each string a summary shows is cut (shared/jobs/result_kinds.py), so the job's stored summary and the webhook
event that carries it fit a Table string property whatever a model's labels or a node's lines hold.

The worst case is worked out, not assumed: every preview slot filled, every string past the bound and made of the
characters JSON writes longest (6 characters for each UTF-16 code unit), serialised as the stores write them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from shared.adapters.azure_job_store import to_entity
from shared.jobs import document, ids, result_kinds
from shared.jobs.models import Job, JobState
from shared.jobs.outbox import WebhookOutbox
from shared.validation.quality import FLAGS
from shared.webhooks.models import Event
from shared.webhooks.service import WebhookService

TABLE_STRING_UNITS = 32 * 1024  # a Table string property holds 64 KiB: 32K UTF-16 code units
HEADROOM = 4 * 1024  # left over in the worst case, for what the status document may carry in later releases
LINK_CHARS = 1024  # each result link; an Azure one with its user delegation SAS is about 600
ID = "a" * 64  # the longest site, device and photo id the upload API issues (shared/validation/names.py)
# A character whose JSON (`\uXXXX`) is longest for each UTF-16 code unit it takes: past U+FFFF, in the BMP, a control.
WIDE = {"emoji": "\U0001f600", "cjk": "写", "control": "\x01"}
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def full_result(kind: str, char: str) -> dict[str, Any]:
    """A result of `kind` with one item more than the summary shows, each string far past the bound."""
    text = char * 5 * result_kinds.MAX_SHOWN_CHARS
    box = {"label": text, "class_id": 10**9, "score": 0.123456789, "box": [12345.678901] * 4}
    by_kind: dict[str, dict[str, Any]] = {
        result_kinds.OCR: {"lines": [{"text": text}] * (result_kinds.PREVIEW_LINES + 1)},
        result_kinds.CLASSIFY: {"labels": [{"label": text, "score": 0.123456789}] * (result_kinds.PREVIEW_LABELS + 1)},
        result_kinds.DETECT: {"boxes": [box] * (result_kinds.PREVIEW_BOXES + 1)},
    }
    schema = next(name for name, named in result_kinds.SCHEMAS.items() if named == kind)
    return {"schema": schema, "result": {"width": 10**9, "height": 10**9, **by_kind[kind]}}


def succeeded(summary: dict[str, Any]) -> Job:
    name = f"{ID}/{ID}/2026/11/22/{ID}.jpg"
    job_id = ids.job_id_for(name)
    quality = {"width": 10**9, "height": 10**9, "sharpness": 0.123456789, "brightness": 0.123456789,
               "dark_fraction": 0.123456789, "bright_fraction": 0.123456789, "flags": list(FLAGS)}  # fmt: skip
    return Job(job_id, ID, ID, ID, name, '"0x8DE0A1B2C3D4E5F"', T0, state=JobState.SUCCEEDED, model=f"{ID}/{ID}",
               quality=quality, queued_at=T0, started_at=T0, finished_at=T0 + timedelta(hours=1), attempt=99,
               result_path=ids.result_path(job_id), summary=summary, later_writes=10**6)  # fmt: skip


class Events:
    """Stands in for the webhook service: keeps the event the outbox records."""

    def __init__(self) -> None:
        self.recorded: list[Event] = []

    def record(self, event: Event) -> list[tuple[str, str]]:
        self.recorded.append(event)
        return []


def units(text: str) -> int:
    """UTF-16 code units, as Table storage measures a string."""
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize("char", WIDE.values(), ids=WIDE.keys())
@pytest.mark.parametrize("kind", [result_kinds.OCR, result_kinds.CLASSIFY, result_kinds.DETECT])
def test_the_worst_summary_and_its_event_fit_a_table_string_property(kind: str, char: str) -> None:
    job = succeeded(result_kinds.summarise(full_result(kind, char)))
    stored = to_entity(job)["summary"]  # the job's row, as TableJobStore writes it
    assert units(stored) <= TABLE_STRING_UNITS - HEADROOM
    events = Events()
    links = {"result": "https://" + "l" * (LINK_CHARS - 8), "overlay": "https://" + "o" * (LINK_CHARS - 8)}
    outbox = WebhookOutbox(cast("WebhookService", events), lambda: T0)
    outbox.record(ids.event_id(job.id, job.state.value), job, document.public(job, links))
    body = events.recorded[0].body.decode("utf-8")  # the event's Body, as TableWebhookStore writes it
    assert units(body) <= TABLE_STRING_UNITS - HEADROOM


def test_a_long_label_and_a_long_line_are_cut_and_a_short_one_is_kept() -> None:
    bound = result_kinds.MAX_SHOWN_CHARS
    detect = result_kinds.summarise(full_result(result_kinds.DETECT, "x"))
    assert [box["label"] for box in detect["best"]] == ["x" * bound] * result_kinds.PREVIEW_BOXES
    classify = result_kinds.summarise(full_result(result_kinds.CLASSIFY, "写"))
    assert [item["label"] for item in classify["labels"]] == ["写" * bound] * result_kinds.PREVIEW_LABELS
    ocr = result_kinds.summarise(full_result(result_kinds.OCR, "é"))
    assert ocr["text"] == ["é" * bound] * result_kinds.PREVIEW_LINES and ocr["lines"] == result_kinds.PREVIEW_LINES + 1
    assert result_kinds.shown("PUMP P-104") == "PUMP P-104"
    assert result_kinds.shown("y" * bound) == "y" * bound


def test_the_bound_counts_utf16_code_units_and_never_splits_a_character() -> None:
    bound = result_kinds.MAX_SHOWN_CHARS
    assert result_kinds.shown("\U0001f600" * bound) == "\U0001f600" * (bound // 2)  # two code units each
    assert result_kinds.shown("a" + "\U0001f600" * bound) == "a" + "\U0001f600" * ((bound - 1) // 2)
    assert result_kinds.shown(12345) == "12345"  # a label that is not text is shown as text, as before


def test_openapi_states_the_bound_the_summary_keeps() -> None:
    schemas = json.loads((Path(__file__).resolve().parents[3] / "openapi.json").read_text())["components"]["schemas"]
    bounds = {
        schemas["OcrSummary"]["properties"]["text"]["items"]["maxLength"],
        schemas["ClassifySummary"]["properties"]["labels"]["items"]["properties"]["label"]["maxLength"],
        schemas["DetectSummary"]["properties"]["best"]["items"]["properties"]["label"]["maxLength"],
        schemas["UnknownSummary"]["properties"]["schema"]["maxLength"],
    }
    assert bounds == {result_kinds.MAX_SHOWN_CHARS}
