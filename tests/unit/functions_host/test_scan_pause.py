"""The blob scan's pause grows with what the scan cost, so a container of many blobs is not listed back to
back (each scan lists every blob in it)."""

from __future__ import annotations

from emulators.functions_host.blob_trigger import SCAN_PAUSE_PER_SCAN_S, scan_pause


def test_a_cheap_scan_waits_the_configured_interval():
    assert scan_pause(2.0, 0.05) == 2.0


def test_a_costly_scan_waits_in_proportion_to_its_cost():
    assert scan_pause(2.0, 1.5) == 1.5 * SCAN_PAUSE_PER_SCAN_S
    share = 1.5 / (1.5 + scan_pause(2.0, 1.5))
    assert share <= 1 / 9 + 1e-9  # scanning takes at most a ninth of the time


def test_the_pause_never_falls_below_the_interval():
    assert all(scan_pause(10.0, took) >= 10.0 for took in (0.0, 0.1, 2.5))
