"""A photo's outcome is counted by the model that read it, so a rollout's versions compare on failure rate (the query
in docs/models.md#rolling-back), and a job that ended before routing chose a model counts as `none`: the metrics
through the real SDK in a fresh process (`recording.run`)."""

from __future__ import annotations

from tests.unit.telemetry.recording import run

OUTCOMES = """
from shared import metrics

metrics.photo_finished("north-yard", "SUCCEEDED", None, "pipe-defects/1.0.0", 2.0)
metrics.photo_finished("north-yard", "SUCCEEDED", None, "pipe-defects/1.1.0", 2.0)
metrics.photo_finished("north-yard", "FAILED", "inference_failed", "pipe-defects/1.0.0", 3.0)
for _ in range(3):
    metrics.photo_finished("north-yard", "FAILED", "inference_failed", "pipe-defects/1.1.0", 3.0)
metrics.photo_finished("north-yard", "FAILED", "overwritten", None, 1.0)  # before validation: no model yet
metrics.photo_finished("north-yard", "REJECTED", "corrupt_image", None, None)
names = ["sitelens.photos.succeeded", "sitelens.photos.failed", "sitelens.photos.rejected",
         "sitelens.photo.time_to_result"]
print(json.dumps({name: points(name) for name in names}))
"""


def test_each_outcome_counter_carries_the_model_and_none_where_routing_chose_none() -> None:
    got = run(OUTCOMES)
    north = {"site": "north-yard"}
    assert sorted(got["sitelens.photos.succeeded"], key=str) == [
        [north | {"model": "pipe-defects/1.0.0"}, 1],
        [north | {"model": "pipe-defects/1.1.0"}, 1],
    ]
    failed = {(attrs["model"], attrs["reason"]): value for attrs, value in got["sitelens.photos.failed"]}
    assert failed == {
        ("pipe-defects/1.0.0", "inference_failed"): 1,
        ("pipe-defects/1.1.0", "inference_failed"): 3,  # the new version fails more: now visible by model
        ("none", "overwritten"): 1,
    }
    assert all(set(attrs) == {"site", "model", "reason"} for attrs, _ in got["sitelens.photos.failed"])
    assert got["sitelens.photos.rejected"] == [[north | {"model": "none", "reason": "corrupt_image"}, 1]]
    # the histogram names the job's model the same way, so the counters and it group alike
    assert {attrs["model"] for attrs, _ in got["sitelens.photo.time_to_result"]} == {
        "pipe-defects/1.0.0", "pipe-defects/1.1.0", "none",
    }  # fmt: skip
