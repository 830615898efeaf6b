"""The dashboard's default port is free beside the local stack `sitelens dev` runs (docs/dashboard.md says to
run both), so its default command does not fail with 'address already in use'."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sitelens import dashboard_command
from sitelens.cli import build_parser
from sitelens.stack import Stack


def test_the_dashboards_default_port_is_none_of_the_local_stacks() -> None:
    stack = Stack(repo=Path(), state_dir=Path())
    ports = {*stack.azurite_ports, stack.functions_port, stack.batch_port}
    argv = ["dashboard"]
    assert build_parser(argv).parse_args(argv).port == dashboard_command.PORT
    assert dashboard_command.PORT not in ports, dataclasses.asdict(stack)
