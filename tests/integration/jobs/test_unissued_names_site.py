"""On the real parts (Azurite's tables and blobs, the webhook store's site index): a blob whose name the upload API
never issued is filed under the reserved site `_unknown`, listed there, and never in the listing or the webhooks
of a real site named `unknown`; an all-sites subscription gets its rejection."""

from __future__ import annotations

import pytest

from shared.adapters.azure_photo_store import PHOTOS
from shared.errors import NotFound
from shared.jobs import ids
from shared.jobs.models import JobState
from tests.integration.jobs.real_world import RealWorld
from tests.unit.jobs.test_pipeline import photo

pytestmark = pytest.mark.integration


def test_an_unissued_name_is_filed_under_the_reserved_site_and_only_all_sites_subscriptions_hear_of_it(
    real_world: RealWorld, unique: str
) -> None:
    world, hooks = real_world, real_world.outbox.webhooks
    site_sub, _ = hooks.subscribe("https://127.0.0.1/unknown-site", "unknown", None)
    all_sub, _ = hooks.subscribe("https://127.0.0.1/all-sites", None, None)
    unissued = f"imports/2025 archive {unique}/IMG 0001.jpg"  # written with the account key
    real = f"unknown/cam-{unique}/2026/11/22/IMG_1.jpg"  # a real site whose id is `unknown`
    for n, name in enumerate((unissued, real), start=1):
        world.blobs.get_blob_client(PHOTOS, name).upload_blob(photo(n), overwrite=True)

    rejected, accepted = world.ingestion.ingest(unissued), world.ingestion.ingest(real)

    assert rejected is not None and accepted is not None
    assert (rejected.state, rejected.reason, rejected.site) == (JobState.REJECTED, "invalid_name", "_unknown")
    reserved, _ = world.store.list_site("_unknown", state=None, since=None, limit=10, token=None)
    of_the_site, _ = world.store.list_site("unknown", state=None, since=None, limit=10, token=None)
    assert [j.id for j in reserved] == [rejected.id] and [j.id for j in of_the_site] == [accepted.id]
    event = ids.event_id(rejected.id, "REJECTED")
    assert hooks.store.get_delivery(event, all_sub.id).event_id == event
    with pytest.raises(NotFound):
        hooks.store.get_delivery(event, site_sub.id)
