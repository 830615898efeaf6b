from __future__ import annotations

import json
from datetime import timedelta

import pytest

from emulators.functions_host.config import ConfigError, load_host_json, load_local_settings, parse_timespan


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00:02", timedelta(seconds=2)),
        ("00:10:00", timedelta(minutes=10)),
        ("00:00:00.200", timedelta(milliseconds=200)),
        ("1.02:00:00", timedelta(days=1, hours=2)),
    ],
)
def test_timespans(text, expected):
    assert parse_timespan(text) == expected


@pytest.mark.parametrize("text", ["2s", "00:00", "1:2:3:4", ""])
def test_bad_timespans(text):
    with pytest.raises(ConfigError):
        parse_timespan(text)


def test_defaults_follow_the_storage_extension(tmp_path):
    config = load_host_json(tmp_path / "missing.json", cpu_count=4)
    q = config.queues
    assert (q.batch_size, q.new_batch_threshold, q.max_dequeue_count) == (16, 32, 5)  # (16/2) * 4 cpus
    assert q.visibility_timeout == timedelta(0)
    assert q.message_encoding == "base64"
    assert config.route_prefix == "api"
    # blobs: MDOP 8 * 4 = 32 → batch min(32, 17) = 17, threshold 15, five tries
    b = config.blob_queue
    assert (b.batch_size, b.new_batch_threshold, b.max_dequeue_count) == (17, 15, 5)


def test_host_json_values_are_read(tmp_path):
    path = tmp_path / "host.json"
    path.write_text(
        json.dumps(
            {
                "version": "2.0",
                "functionTimeout": "00:05:00",
                "extensions": {
                    "queues": {"batchSize": 4, "maxDequeueCount": 2, "messageEncoding": "none"},
                    "blobs": {"maxDegreeOfParallelism": 4, "poisonBlobThreshold": 3},
                    "http": {"routePrefix": ""},
                },
            }
        )
    )
    config = load_host_json(path, cpu_count=2)
    assert config.queues.new_batch_threshold == 4  # (4/2) * 2
    assert config.queues.message_encoding == "none"
    assert config.blob_queue.max_dequeue_count == 3
    assert config.route_prefix == ""
    assert config.function_timeout == timedelta(minutes=5)


def test_the_blob_trigger_queue_takes_nothing_from_extensions_queues(tmp_path):
    # SharedBlobQueueListenerFactory builds a new QueuesOptions from extensions.blobs alone: a failed try is
    # visible again at once and empty polls back off to the one-minute default, whatever host.json says
    path = tmp_path / "host.json"
    queues = {"visibilityTimeout": "00:00:30", "maxPollingInterval": "00:00:02", "maxDequeueCount": 3}
    path.write_text(json.dumps({"version": "2.0", "extensions": {"queues": queues}}))
    config = load_host_json(path, cpu_count=1)
    assert config.queues.visibility_timeout == timedelta(seconds=30)
    b = config.blob_queue
    assert (b.visibility_timeout, b.max_polling_interval, b.max_dequeue_count) == (
        timedelta(0),
        timedelta(minutes=1),
        5,
    )


@pytest.mark.parametrize(
    "doc",
    [
        {"version": "1.0"},
        {"version": "2.0", "extensions": {"queues": {"batchSize": 64}}},
        {"version": "2.0", "extensions": {"queues": {"messageEncoding": "utf8"}}},
    ],
)
def test_invalid_host_json(tmp_path, doc):
    path = tmp_path / "host.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError):
        load_host_json(path)


def test_local_settings_keys_and_environment_override(tmp_path):
    path = tmp_path / "local.settings.json"
    path.write_text(
        json.dumps(
            {
                "Values": {"AzureWebJobsStorage": "from-file", "OTHER": "1"},
                "Host": {"LocalHttpPort": 7099},
                "Keys": {"master": "m", "host": {"default": "h"}, "functions": {"f": {"default": "k"}}},
            }
        )
    )
    settings = load_local_settings(path, {"AzureWebJobsStorage": "from-env", "UNRELATED": "x"})
    assert settings.values == {"AzureWebJobsStorage": "from-env", "OTHER": "1"}
    assert settings.http_port == 7099
    keys = settings.keys
    assert keys.accepts("f", "k", admin=False) and keys.accepts("g", "h", admin=False)
    assert not keys.accepts("g", "k", admin=False)  # another function's key
    assert keys.accepts("f", "m", admin=True) and not keys.accepts("f", "h", admin=True)
    assert not keys.accepts("f", None, admin=False)


def test_missing_master_key_is_random_per_start(tmp_path):
    a = load_local_settings(tmp_path / "none.json", {}).keys.master
    b = load_local_settings(tmp_path / "none.json", {}).keys.master
    assert a != b and len(a) >= 32
