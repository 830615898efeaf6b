"""The `sitelens` command: one entry point, one module per subcommand group.

Each group module exposes ``register(subparsers)``, which adds its parser and sets ``handler`` to a
function ``(argparse.Namespace) -> int`` that returns the exit code. This module only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Group modules, imported lazily so `sitelens autoscale check` does not pay for aiohttp or the SDKs.
_GROUPS: dict[str, str] = {
    "dev": "sitelens.dev_command",
    "demo": "sitelens.demo_command",
    "functions": "emulators.functions_host.cli",
    "azurite": "emulators.azurite_cli",
    "autoscale": "autoscale.cli",
    "models": "sitelens.models_command",
    "batch": "emulators.batch_service.cli",
    "upload": "sitelens.upload_command",
    "sync": "sitelens.sync_command",
    "jobs": "sitelens.jobs_command",
    "plan": "sitelens.plan_command",
    "cost": "sitelens.cost_command",
    "trace": "sitelens.trace",
    "dashboard": "sitelens.dashboard_command",
    "chaos": "sitelens.chaos",
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitelens", description="sitelens developer and operator tools")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    # Import only the group being asked for; with no group (or --help) import all to list them.
    wanted = [a for a in argv if not a.startswith("-")][:1]
    for name, module_name in _GROUPS.items():
        if wanted and wanted[0] != name:
            sub.add_parser(name, help=argparse.SUPPRESS, add_help=False)
            continue
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(args_list).parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # The Azure SDKs log every HTTP request at INFO; keep them to warnings unless debugging.
    logging.getLogger("azure").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    handler = getattr(args, "handler", None)
    if handler is None:  # a group given without its subcommand
        build_parser([args.group]).parse_args([args.group, "--help"])
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
