"""The formula's knobs at deployment: Bicep's replace chain over infra/autoscale.formula gives the text that
`autoscale.knobs.with_knobs` gives (the local stack's and the simulator's), for main.bicep's defaults and for
each environment's parameter file, and that text passes `check --strict`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autoscale import Formula
from autoscale.knobs import knobs, with_knobs
from tests.unit.infra import bicep

BATCH = bicep.module("batch")
MAIN = bicep.main()
FORMULA = (bicep.INFRA / "autoscale.formula").read_text(encoding="utf-8")
KNOBS = knobs(FORMULA)


def _chain() -> list[tuple[str, str]]:
    """(old, new) of each replace from the pool's formula back to the file, in the order Bicep applies them."""
    formula = bicep.resource(BATCH, "pool")["properties"]["scaleSettings"]["autoScale"]["formula"]
    steps, base = bicep.replaces(BATCH, formula)
    assert base["type"] == "load_text_content"
    return steps


def _deploy(values: dict[str, float]) -> str:
    """What Bicep deploys with these parameter values: each `${param}` rendered as Bicep writes an int."""
    text = FORMULA
    for old, new in _chain():
        text = text.replace(old, re.sub(r"\$\{(\w+)\}", lambda m: str(int(values[m[1]])), new))
    return text


def _bicepparam(path: Path) -> dict[str, float]:
    found = re.findall(r"^param (\w+) = (-?\d+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    return {name: float(value) for name, value in found if name in KNOBS}


def test_every_knob_is_replaced_from_its_default_line_and_is_a_parameter_with_that_default():
    olds = [old for old, _ in _chain()]
    assert olds == [f"{name} = {value:g};" for name, value in KNOBS.items()]
    for name, value in KNOBS.items():
        assert BATCH["parameters"][name]["type"] == "int"
        assert MAIN["parameters"][name]["default"] == value, name
        assert bicep.render(MAIN["modules"]["batch"]["config"]["params"][name]) == name


def test_the_defaults_deploy_the_file_unchanged():
    assert _deploy(KNOBS) == FORMULA


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_each_environment_deploys_what_with_knobs_gives_and_it_passes_check_strict(environment):
    values = {**KNOBS, **_bicepparam(bicep.INFRA / f"main.{environment}.bicepparam")}
    assert set(_bicepparam(bicep.INFRA / f"main.{environment}.bicepparam")) >= {"maxNodes", "minNodesAtWork"}
    deployed = _deploy(values)
    assert deployed == with_knobs(FORMULA, values)
    assert knobs(deployed) == values
    assert Formula.parse(deployed).warnings == []


def test_changed_values_reach_the_text():
    values = {**KNOBS, "maxNodes": 12, "utcOffsetHours": -5, "minNodesAtWork": 1}
    deployed = _deploy(values)
    assert "maxNodes = 12;" in deployed and "utcOffsetHours = -5;" in deployed and "minNodesAtWork = 1;" in deployed
    assert deployed == with_knobs(FORMULA, values)
