"""The settings validation reads as the app is imported: only the instance's memory, so that another setting's
bad value is refused when the app uses its settings (a 503 that /api/health names), not by the import, which
would leave the Functions host with no function at all."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from shared.pipeline_settings import INSTANCE_MEMORY_MB, PipelineSettings
from shared.validation.validator import decode_memory_budget, decode_slots

# A per-site policy whose flags are not names: JSON that parses, as a list in a list.
NESTED_POLICY = '{"north-yard": [["blurry"]]}'


class Recorded(Mapping[str, str]):
    """The environment, noting each setting looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        self.settings, self.read = values, set[str]()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.settings[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.settings)

    def __len__(self) -> int:
        return len(self.settings)


def test_the_decode_slots_read_the_instances_memory_and_no_other_setting() -> None:
    env = Recorded({INSTANCE_MEMORY_MB: "4096", "SITELENS_QUALITY_REJECT": NESTED_POLICY})
    assert decode_slots(env).budget == decode_memory_budget(4096)
    assert env.read == {INSTANCE_MEMORY_MB}


def test_a_bad_memory_value_leaves_the_decode_slots_the_default_budget() -> None:
    """The settings refuse it by name; the import goes on with the template's memory."""
    default = PipelineSettings().instance_memory_mb
    assert decode_slots({INSTANCE_MEMORY_MB: "2GB"}).budget == decode_memory_budget(default)
    problems: list[str] = []
    PipelineSettings.from_env({INSTANCE_MEMORY_MB: "2GB"}, problems)
    assert [p for p in problems if INSTANCE_MEMORY_MB in p]


def test_quality_flags_that_are_not_names_are_a_problem_named_by_the_settings_not_an_exception() -> None:
    for policy in (NESTED_POLICY, '{"north-yard": [{"blurry": true}]}', '{"north-yard": ["blurry", 3]}'):
        problems: list[str] = []
        settings = PipelineSettings.from_env({"SITELENS_QUALITY_REJECT": policy}, problems)
        assert problems == [
            "SITELENS_QUALITY_REJECT[north-yard] must list some of "
            "['blurry', 'low_resolution', 'over_exposed', 'under_exposed']"
        ], policy
        assert settings.rejecting_flags("north-yard") == frozenset()
