"""Rules on settings that the app computes from its own constants, stated in infra/main.bicep and
docs/configuration.md: the numbers written there must be the code's."""

from __future__ import annotations

from batch_tasks.ocr.opencv import MAX_PIXELS
from shared import config
from shared.adapters.azure_job_store import FEEDBACK, JOBS
from shared.adapters.azure_webhook_store import DELIVERIES, DELIVERY_INDEX, EVENTS, SUBSCRIPTIONS
from shared.uploads.azure_table_reservations import UPLOADS
from tests.unit.infra import bicep

TABLE_NAMES = (JOBS, FEEDBACK, UPLOADS, SUBSCRIPTIONS, EVENTS, DELIVERIES, DELIVERY_INDEX)
DOC = (bicep.REPO / "docs" / "configuration.md").read_text()


def decorators(parameter: str) -> dict[str, object]:
    return {d["type"]: d.get("argument") for d in bicep.main()["parameters"][parameter]["decorators"]}


def row_of(name: str) -> str:
    return next(line for line in DOC.splitlines() if line.startswith(f"| `{name}`"))


def test_the_table_prefix_length_infra_and_the_docs_state_is_the_apps() -> None:
    stated = f"at most {config.MAX_TABLE_PREFIX} characters"
    prefix = decorators("tablePrefix")
    assert prefix["max_length"] == config.MAX_TABLE_PREFIX
    assert stated in str(prefix["description"])
    assert stated in row_of(config.TABLE_PREFIX)
    longest = config.MAX_TABLE_NAME - config.MAX_TABLE_PREFIX
    assert all(f"`{name}`" in row_of(config.TABLE_PREFIX) for name in TABLE_NAMES if len(name) == longest)


def test_the_photo_pixel_cap_infra_and_the_docs_state_is_opencvs() -> None:
    assert decorators("maxPhotoPixels")["max_value"] == MAX_PIXELS
    assert f"at most `{MAX_PIXELS}`" in row_of("SITELENS_MAX_PHOTO_PIXELS")
