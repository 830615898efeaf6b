"""A process reports at most `MAX_SITES_REPORTED` sites by name: the SDK keeps every attribute set it has seen for
the life of the process, and site ids are the uploader's choice, so every later site is reported as
`OTHER_SITES` and the attribute sets stop growing. The metrics through the real SDK in a fresh process
(`recording.run`); the bound itself in-process, raced by threads."""

from __future__ import annotations

import threading

from shared.metrics import MAX_SITES_REPORTED, OTHER_SITES, SiteBound
from shared.uploads.naming import ID
from tests.unit.telemetry.recording import run

SITE_METRICS = (
    "sitelens.photos.received",
    "sitelens.photos.succeeded",
    "sitelens.photos.rejected",
    "sitelens.photo.time_to_result",
    "sitelens.validation.duration",
    "sitelens.completions.refused",
)

SCRIPT = """
from shared import metrics

def photo(site):
    metrics.photo_received(site)
    metrics.validation_time(site, 0.05, "accepted")
    metrics.photo_finished(site, "SUCCEEDED", None, "ocr/ppocrv4", 3.2)
    metrics.photo_finished(site, "REJECTED", "corrupt_image", None, None)
    metrics.completion_refused(site, "mismatch")

def series():
    return {name: len(points(name)) for name in NAMES}

first = [f"site-{i}" for i in range(metrics.MAX_SITES_REPORTED + 300)]
for site in first:
    photo(site)
for site in first[:10]:  # sites named before the bound keep their name
    photo(site)
after_first = series()
for i in range(2000):  # a sender inventing a new site for every photo
    photo(f"invented-{i}")
print(json.dumps({"after_first": after_first, "after_more": series(),
                  "points": {name: points(name) for name in NAMES}}))
"""


def test_sites_past_the_bound_are_reported_as_other_and_the_attribute_sets_stop_growing() -> None:
    got = run(f"NAMES = {list(SITE_METRICS)!r}\n" + SCRIPT)
    named = {f"site-{i}" for i in range(MAX_SITES_REPORTED)}
    for name in SITE_METRICS:
        assert got["after_first"][name] == MAX_SITES_REPORTED + 1, name  # each named site, and OTHER_SITES
        assert got["after_more"][name] == MAX_SITES_REPORTED + 1, name  # 2,000 more sites added no series
        by_site = {attrs["site"]: value for attrs, value in got["points"][name]}
        assert set(by_site) == named | {OTHER_SITES}, name
        assert by_site[OTHER_SITES] == 300 + 2000, name  # every photo past the bound is still counted
        assert by_site["site-0"] == 2 and by_site[f"site-{MAX_SITES_REPORTED - 1}"] == 1, name


def test_the_overflow_value_is_never_a_real_site_id() -> None:
    assert ID.fullmatch(OTHER_SITES) is None


def test_racing_threads_name_exactly_the_bound_and_agree_on_each_site() -> None:
    bound = SiteBound(limit=50)
    start = threading.Barrier(8)
    seen: list[dict[str, str]] = [{} for _ in range(8)]

    def report(into: dict[str, str]) -> None:
        start.wait()
        for i in range(200):
            site = f"s{i}"
            into[site] = bound.reported(site)

    threads = [threading.Thread(target=report, args=(into,)) for into in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(each == seen[0] for each in seen)  # once named, always named; once other, always other
    assert sum(reported != OTHER_SITES for reported in seen[0].values()) == 50
    assert all(reported in {site, OTHER_SITES} for site, reported in seen[0].items())
