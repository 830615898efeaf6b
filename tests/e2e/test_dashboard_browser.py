"""`sitelens dashboard` in a real headless Chromium (Debian's, driven by Playwright) against the local stack.

Photos go through the pipeline first (two read, one rejected); then the page must show what an operator
would look for: the counts, a thumbnail of an overlay with the text read, the rejection's reason, the pool
chart; a click on a photo opens its timeline; each subscription's recent delivery outcomes above its failed
deliveries, which Replay sends again (or, for a subscription a 410 disabled, says it cannot). A screenshot is
saved under .local/ for the record.

The browser comes from tests/support/browser.py (through tests/e2e/conftest.py): without Chromium the test
is skipped with a reason saying so; with SITELENS_REQUIRE_BROWSER=1 (what .ci/run sets) the skip becomes a
failure, so CI cannot pass without the browser having run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sitelens.dashboard import Dashboard, Upstream
from sitelens.field_photos import bad_files, render
from tests.e2e.conftest import REPO, Pipeline
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
SCREENSHOT = REPO / ".local" / "dashboard.png"  # the page as it first shows
SCREENSHOT_JOB = REPO / ".local" / "dashboard-job.png"  # with one job's timeline open
WAIT_MS = 60_000  # the page refreshes every 5 s; the pool is sampled every second here


def name(site: str, ext: str = "jpg") -> str:
    return f"{site}/cam-1/2026/11/22/{uuid.uuid4().hex[:16]}.{ext}"


@pytest.fixture
def gone_receiver(pipeline: Pipeline) -> Iterator[tuple[Receiver, str, str]]:
    """A loopback receiver answering 410 once (the delivery fails at once), subscribed to one new site."""
    site = f"dash-{uuid.uuid4().hex[:8]}"
    with Receiver([Reply(410)]) as receiver:
        created = pipeline.http("POST", "/subscriptions", body=json.dumps({"url": receiver.url, "site": site}).encode(),
                                headers={"Content-Type": "application/json"})  # fmt: skip
        assert created.status == 201 and created.body is not None
        try:
            yield receiver, created.body["id"], site
        finally:
            pipeline.http("DELETE", f"/subscriptions/{created.body['id']}")


@pytest.fixture
def ok_receiver(pipeline: Pipeline, gone_receiver: tuple[Receiver, str, str]) -> Iterator[tuple[Receiver, str]]:
    """A loopback receiver answering 200 to everything, subscribed to the same site."""
    site = gone_receiver[2]
    with Receiver() as receiver:
        created = pipeline.http("POST", "/subscriptions", body=json.dumps({"url": receiver.url, "site": site}).encode(),
                                headers={"Content-Type": "application/json"})  # fmt: skip
        assert created.status == 201 and created.body is not None
        try:
            yield receiver, created.body["id"]
        finally:
            pipeline.http("DELETE", f"/subscriptions/{created.body['id']}")


def test_the_dashboard_shows_a_sites_photos_the_pool_and_a_jobs_timeline(
    browser: Any, pipeline: Pipeline, gone_receiver: tuple[Receiver, str, str], ok_receiver: tuple[Receiver, str]
) -> None:
    receiver, subscription, site = gone_receiver
    ok, ok_subscription = ok_receiver
    good = [pipeline.put(name(site), render(n).jpeg) for n in (21, 22)]
    rejected = pipeline.put(name(site), bad_files()["truncated.jpg"][0])
    done = {job_id: pipeline.wait_terminal(job_id) for job_id in [*good, rejected]}
    assert [done[j]["state"] for j in good] == ["SUCCEEDED", "SUCCEEDED"]
    assert (done[rejected]["state"], done[rejected]["reason"]) == ("REJECTED", "corrupt_image")

    key = pipeline.stack.keys["host"]["default"]
    dashboard = Dashboard(Upstream(pipeline.api, key), sites=[site], port=0, sample_every_s=1.0).start()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(dashboard.url)
        section = page.locator(f"#site-{site}")
        expect_text(section.locator('.count[data-state="SUCCEEDED"] .n'), "2")
        expect_text(section.locator('.count[data-state="REJECTED"] .n'), "1")
        expect_text(section.locator(".rejections .reason"), "corrupt_image")
        assert "p50" in section.locator(".ttr").inner_text()

        # A thumbnail of an overlay, decoded by the browser, with the text the model read beside it.
        image = section.locator(f'.thumb[data-job="{good[0]}"] img')
        image.wait_for(timeout=WAIT_MS)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                               timeout=WAIT_MS)  # fmt: skip
        read = section.locator(f'.thumb[data-job="{good[0]}"] .text').inner_text()
        assert read.strip() and read.strip() in "\n".join(done[good[0]]["result"]["summary"]["text"])

        # The autoscale picture: the pool drawn from samples, with its figures now.
        page.wait_for_function(
            "() => (document.querySelector('#pool-chart polyline[data-series=current_nodes]')"
            "?.getAttribute('points') || '').split(' ').length >= 2",
            timeout=WAIT_MS,
        )
        assert page.locator("#pool-chart polyline[data-series=pending_tasks]").count() >= 1
        assert "pending" in page.locator("#pool-now").inner_text()

        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # Into one job: its timeline from receipt to result.
        section.locator(f'.thumb[data-job="{good[0]}"]').click()
        panel = page.locator("#job-panel")
        expect_text(panel.locator("h2"), f"Job {good[0]}")
        assert panel.locator(".timeline li").all_inner_texts()[0].startswith("received")
        assert panel.locator('.timeline li[data-step="finished"]').count() == 1
        assert "null" not in panel.inner_text()
        assert f"sitelens trace {good[0]}" in panel.locator(".trace").inner_text()
        page.screenshot(path=str(SCREENSHOT_JOB), full_page=True)
        page.locator("#close-job").click()

        # Webhooks: each subscription's recent outcomes, newest first. The receiver answering 200 got all three
        # events: its table shows them delivered, with their jobs, one attempt each and HTTP 200.
        ok.wait_for(3)
        try:
            wait_for(lambda: outcomes(pipeline, ok_subscription) == ["delivered"] * 3, WAIT_MS / 1000,
                     "the API to list 3 deliveries delivered")  # fmt: skip
        except AssertionError as exc:  # what the API lists instead
            listed = pipeline.http("GET", f"/subscriptions/{ok_subscription}/deliveries")
            raise AssertionError(f"{exc}: {listed}") from exc
        recent = page.locator(f'.subscription[data-subscription="{ok_subscription}"] table.recent tr[data-event]')
        try:
            expect_count(recent.and_(page.locator("[data-state=delivered]")), 3)
        except AssertionError as exc:  # what the page's last refresh said went wrong, if anything
            raise AssertionError(f"{exc}; page: {page.locator('#updated').inner_text()}") from exc
        delivered = recent.all_inner_texts()
        assert len(delivered) == 3 and all("delivered" in row and "200" in row for row in delivered)
        assert {recent.nth(n).locator("td.job").get_attribute("data-job") for n in range(3)} == {*good, rejected}
        assert "job.rejected" in " ".join(delivered) and "job.succeeded" in " ".join(delivered)
        first_job = recent.first.locator("td.job").get_attribute("data-job")
        recent.first.locator("td.job a").click()  # a delivery's job opens its timeline
        expect_text(page.locator("#job-panel h2"), f"Job {first_job}")
        page.locator("#close-job").click()

        # The delivery the receiver refused is listed with its reason. Its 410 disabled the subscription, so Replay
        # is refused with the reason on the button, and the delivery stays listed: nothing is silently dropped.
        receiver.wait_for(1)
        gone = page.locator(f'.subscription[data-subscription="{subscription}"] table.recent tr[data-state=failed]')
        gone.first.wait_for(timeout=WAIT_MS)
        assert "receiver_gone" in gone.first.inner_text() and "410" in gone.first.inner_text()
        failed = page.locator(f'.subscription[data-subscription="{subscription}"] table.failed tr')
        failed.first.wait_for(timeout=WAIT_MS)
        event_id = failed.first.get_attribute("data-event")
        assert "receiver_gone" in failed.first.inner_text()
        failed.first.locator("button.replay").click()
        wait_for(lambda: failed.first.locator("button.replay").inner_text().startswith(
            "replay failed: subscription_disabled"), WAIT_MS / 1000, "the refusal on the Replay button")  # fmt: skip
        assert event_id in str(pipeline.http("GET", f"/subscriptions/{subscription}/failed").body)

        # The key stays in the dashboard process: not in the page, and the page only ever called its server.
        assert key not in page.content()
        api_calls = [u for u in requests if "/api/" in u]
        assert api_calls and all(u.startswith(dashboard.url + "api/") for u in api_calls)
    finally:
        page.close()
        dashboard.stop()
    assert SCREENSHOT.stat().st_size > 10_000 and SCREENSHOT_JOB.stat().st_size > 10_000


def outcomes(pipeline: Pipeline, subscription: str) -> list[str]:
    """The states of a subscription's recent deliveries, as the API lists them."""
    reply = pipeline.http("GET", f"/subscriptions/{subscription}/deliveries")
    return [str(d["state"]) for d in reply.body["deliveries"]] if reply.status == 200 and reply.body else []


def expect_count(locator: Any, count: int) -> None:
    """Waits (with the deadline) until `count` elements match."""
    from playwright.sync_api import expect

    expect(locator).to_have_count(count, timeout=WAIT_MS)


def expect_text(locator: Any, text: str) -> None:
    """Waits (with the deadline) until the element shows exactly `text`."""
    from playwright.sync_api import expect

    expect(locator).to_have_text(text, timeout=WAIT_MS)
