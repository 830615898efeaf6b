"""The pipeline's settings: read once, defaults documented, bad values named all at once."""

from __future__ import annotations

import json

import pytest

from shared.config import ConfigError, Settings

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_defaults_without_any_pipeline_setting():
    p = Settings.from_env(BASE).pipeline
    assert (p.pool_id, p.task_max_retries, p.default_model, p.stuck_after_s) == ("sitelens-gpu", 2, "ocr/ppocrv4", 900)
    assert p.batch_url is None and p.rejecting_flags("any-site") == frozenset()


def test_task_environment_and_per_site_quality_policy():
    policy = {"*": ["blurry"], "north-yard": ["blurry", "under_exposed"]}
    env = {**BASE, "SITELENS_TASK_ENV": json.dumps({"SITELENS_STORAGE_BLOB_URL": "https://a.blob"}),
           "SITELENS_QUALITY_REJECT": json.dumps(policy)}  # fmt: skip
    p = Settings.from_env(env).pipeline
    assert p.task_env == {"SITELENS_STORAGE_BLOB_URL": "https://a.blob"}
    assert p.rejecting_flags("north-yard") == {"blurry", "under_exposed"} and p.rejecting_flags("x") == {"blurry"}


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [("SITELENS_TASK_MAX_RETRIES", "-1", "SITELENS_TASK_MAX_RETRIES"), ("SITELENS_TASK_MAX_RETRIES", "lots", "lots"),
     ("SITELENS_STUCK_AFTER_S", "0", "SITELENS_STUCK_AFTER_S must be a number above 0"),
     ("SITELENS_TASK_ENV", "[1]", "SITELENS_TASK_ENV"),
     ("SITELENS_QUALITY_REJECT", '{"*": ["ugly"]}', "SITELENS_QUALITY_REJECT[*]")],
)  # fmt: skip
def test_bad_values_are_refused_with_the_setting_named(name, value, said):
    with pytest.raises(ConfigError, match="invalid or missing settings") as info:
        Settings.from_env({**BASE, name: value})
    assert said in str(info.value)


def test_the_webhook_retry_scale_is_read_and_must_be_positive():
    assert Settings.from_env(BASE).webhook_retry_scale == 1.0
    assert Settings.from_env({**BASE, "SITELENS_WEBHOOK_RETRY_SCALE": "0.1"}).webhook_retry_scale == 0.1
    for bad in ("0", "-1", "fast"):
        with pytest.raises(ConfigError, match="SITELENS_WEBHOOK_RETRY_SCALE"):
            Settings.from_env({**BASE, "SITELENS_WEBHOOK_RETRY_SCALE": bad})
