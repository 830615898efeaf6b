"""The `sitelens` command: one entry point, one module per subcommand group.

Each group module exposes ``register(subparsers)``, which adds its parser and sets ``handler`` to a
function ``(argparse.Namespace) -> int`` that returns the exit code. This module only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

SIGPIPE_EXIT = 128 + 13  # what a shell reports for a process killed by SIGPIPE (13 on Linux and macOS)


class Parser(argparse.ArgumentParser):
    """No abbreviated options: `--score-thresh 0.3` would be taken for `--score-threshold` and a typo that starts a
    real option would pass unnoticed (in a CI workflow, for one). Every group's parser is one of these, since
    `add_subparsers` makes its parsers of the parser's own class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


class Group(NamedTuple):
    module: str
    summary: str  # the line `sitelens --help` shows; the same words the module registers (a test checks)
    needs: str  # where its packages come from, for the message when they are missing


# What installs a group's packages: nothing beyond Python, the `field` extra, or the development set-up.
_STDLIB, _FIELD, _DEV = "", "pip install -c constraints.txt '.[field]' (docs/field.md)", "make setup"

# Only the group being run is imported: `sitelens --help` and the field agent's commands must work on a
# gateway that has neither aiohttp nor the local emulators nor the model tools.
_GROUPS: dict[str, Group] = {
    "dev": Group("sitelens.dev_command", "run the local stack in the foreground", _DEV),
    "demo": Group("sitelens.demo_command", "start a local stack and run the main job end to end", _DEV),
    "functions": Group("emulators.functions_host.cli", "the local Azure Functions host", _DEV),
    "azurite": Group("emulators.azurite_cli", "run only Azurite (storage) in the foreground", _DEV),
    "autoscale": Group("autoscale.cli", "the Batch autoscale formula language, evaluated locally", _STDLIB),
    "models": Group("sitelens.models_command", "model folders: make, try, publish and route models", _DEV),
    "batch": Group("emulators.batch_service.cli", "the local Azure Batch service", _DEV),
    "upload": Group("sitelens.upload_command", "upload photos like a field device and print their job ids", _FIELD),
    "sync": Group("sitelens.sync_command", "watch a drop folder and upload every new photo once", _FIELD),
    "jobs": Group("sitelens.jobs_command", "list, show, watch and open jobs through the status API", _FIELD),
    "erase": Group("sitelens.erase_command", "erase everything sitelens holds of one photo's image", _DEV),
    "plan": Group(
        "sitelens.plan_command", "size the GPU pool for a load and a target wait, checked by simulation", _STDLIB
    ),
    "cost": Group("sitelens.cost_command", "cost per 1,000 photos by component, from measured operations", _STDLIB),
    "trace": Group("sitelens.trace", "print a job's trace from the local stack as a waterfall", _STDLIB),
    "dashboard": Group(
        "sitelens.dashboard_command", "a local web page of sites, photos, the pool and webhooks", _FIELD
    ),
    "chaos": Group("sitelens.chaos", "run photos through a local stack under a seeded fault schedule", _DEV),
}


class MissingPackage(Exception):
    """A group's module could not be imported because a third-party package is not installed."""


def _register(sub: argparse._SubParsersAction[Parser], name: str, group: Group) -> None:
    try:
        module = importlib.import_module(group.module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] in (
            "sitelens",
            "shared",
            "batch_tasks",
            "emulators",
            "autoscale",
        ):
            raise  # a project module missing is a broken install, not a missing extra: show the traceback
        raise MissingPackage(f"sitelens {name} needs the Python package {exc.name!r}, not installed here: "
                             f"{group.needs or 'reinstall sitelens'}") from exc  # fmt: skip
    module.register(sub)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = Parser(prog="sitelens", description="sitelens developer and operator tools")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    # The group asked for registers its own parser; every other one is a placeholder with its summary, so the
    # top-level help lists them all without importing any.
    wanted = [a for a in argv if not a.startswith("-")][:1]
    for name, group in _GROUPS.items():
        if wanted == [name]:
            _register(sub, name, group)
        else:
            sub.add_parser(name, help=group.summary, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Text the terminal's encoding cannot carry (a file name that is not UTF-8, its bytes kept as surrogates) is
    # printed with backslash escapes: a UnicodeEncodeError would end the command after its work was done.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = _dispatch(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # now, not at exit, where a closed pipe could only be reported with a traceback
    except BrokenPipeError:
        # Whoever read stdout has gone (`| head`): end as a process killed by SIGPIPE does, quietly, so a script does
        # not take it for the API's fault. Python flushes stdout again at exit: devnull takes what is left.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    return code


def _dispatch(args_list: list[str]) -> int:
    try:
        args = build_parser(args_list).parse_args(args_list)
    except MissingPackage as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # The Azure SDKs log every HTTP request at INFO; keep them to warnings unless debugging. Their own lines redact
    # a URL's query; urllib3's DEBUG lines, under them, show it whole, an upload's SAS (`sig=`) with it.
    logging.getLogger("azure").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.INFO)
    handler = getattr(args, "handler", None)
    if handler is None:  # a group given without its subcommand
        build_parser([args.group]).parse_args([args.group, "--help"])
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
