"""The app knows the memory of the instance it runs on: functions.bicep hands the size it gives the instances to
the app as SITELENS_INSTANCE_MEMORY_MB, and validation decodes within half of it, for every size infra allows."""

from __future__ import annotations

import pytest

from shared import config
from shared.config import ConfigError, Settings
from shared.pipeline_settings import INSTANCE_MEMORY_MB
from shared.validation import validator
from tests.unit.infra import bicep

FUNCTIONS = bicep.module("functions")
BASE = {config.STORAGE: config.dev_storage_connection_string()}
MIB = 1024 * 1024


def allowed_sizes() -> list[int]:
    decorators = bicep.main()["parameters"]["instanceMemoryMB"]["decorators"]
    sizes: list[int] = next(d["argument"] for d in decorators if d["type"] == "allowed")
    return sizes


def test_the_app_is_told_the_memory_its_instances_are_given() -> None:
    platform = bicep.variable(FUNCTIONS, "platformSettings")
    assert bicep.render(platform[INSTANCE_MEMORY_MB]) == "string(instanceMemoryMB)"
    scale = bicep.resource(FUNCTIONS, "app")["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["instanceMemoryMB"] == "instanceMemoryMB"  # the same parameter sizes the instances
    main_call = bicep.body(bicep.main()["modules"]["functions"]["config"])["params"]
    assert bicep.render(main_call["instanceMemoryMB"]) == "instanceMemoryMB"


@pytest.mark.parametrize("size", allowed_sizes())
def test_every_size_infra_allows_is_read_and_half_of_it_is_the_decode_budget(size: int) -> None:
    env = {**BASE, INSTANCE_MEMORY_MB: str(size)}
    assert Settings.from_env(env).pipeline.instance_memory_mb == size  # raises ConfigError if the app refused it
    assert validator.decode_slots(env).budget == size * MIB // 2


def test_unset_as_on_the_local_stack_the_budget_is_that_of_infras_default_size() -> None:
    default = bicep.main()["parameters"]["instanceMemoryMB"]["default"]
    assert Settings.from_env(BASE).pipeline.instance_memory_mb == default == 2048
    assert validator.decode_slots(BASE).budget == 1024 * MIB


@pytest.mark.parametrize("value", ["0", "-512", "2GB", "2048.5"])
def test_a_size_that_is_not_a_positive_whole_number_refuses_the_start(value: str) -> None:
    with pytest.raises(ConfigError, match=INSTANCE_MEMORY_MB):
        Settings.from_env({**BASE, INSTANCE_MEMORY_MB: value})
