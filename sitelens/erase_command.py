"""`sitelens erase JOB_ID`: erase everything sitelens holds of one photo's image (shared/jobs/erasure.py).

Storage is found as `sitelens models` finds it (sitelens/model_storage.py): `--connection-string`, else
`AzureWebJobsStorage`, else the running local stack's; or `--account-url https://ACCOUNT.blob.core.windows.net`
signed in with Microsoft Entra ID (`DefaultAzureCredential`), whose tables are at the account's table endpoint.
The stores are the app's own adapters, built over the clients this command signs in with (the composition root
builds them from the app's settings and its managed identity, which an operator's machine has not).

Exit codes: 0 erased (or nothing left to erase), 2 refused or a usage error, 1 storage failed (running it again
finishes the work). What it found and erased goes to stdout; errors and refusals go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from shared.adapters.azure_erasure import TableEventErasure
from shared.adapters.azure_errors import translated
from shared.adapters.azure_job_store import JOBS, TableJobStore
from shared.adapters.azure_photo_store import BlobPhotoStore
from shared.config import TABLE_PREFIX
from shared.errors import NotFound, SitelensError
from shared.jobs import erasure, ids
from shared.uploads.azure_table_reservations import TableReservationStore
from sitelens import model_storage

SUMMARY = "erase everything sitelens holds of one photo's image"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("erase", help=SUMMARY, description=SUMMARY + ": docs/deploy.md")
    parser.add_argument("job_id", metavar="JOB_ID", help="a job of the photo (any of its retries or duplicates)")
    parser.add_argument("--dry-run", action="store_true", help="list the jobs that would be erased; erase nothing")
    parser.add_argument("--yes", action="store_true", help="erase without asking (needed when not on a terminal)")
    parser.add_argument("--table-prefix", default=os.environ.get(TABLE_PREFIX, ""),
                        help=f"the app's {TABLE_PREFIX} (default: the environment's, else none)")  # fmt: skip
    model_storage.add_arguments(parser)
    parser.set_defaults(handler=run)


def table_service(args: argparse.Namespace) -> TableServiceClient | None:
    """The account's tables, named as `model_storage.blob_service` names its blobs; None when nothing names one.

    Raises:
        model_storage.MalformedConnection: the connection string found does not parse.
    """
    if getattr(args, "account_url", None):
        from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - only the Entra ID path needs it

        url = args.account_url.replace(".blob.", ".table.", 1)
        return TableServiceClient(url, credential=DefaultAzureCredential())
    given = getattr(args, "connection_string", None)
    return model_storage.from_connection_string(TableServiceClient.from_connection_string, given)


def build(blobs: BlobServiceClient, tables: TableServiceClient, prefix: str) -> erasure.Erasure:
    return erasure.Erasure(
        TableJobStore(tables, prefix=prefix),
        BlobPhotoStore(blobs, account_key=None, https_only=True),  # erasing signs no links
        TableEventErasure(tables, prefix=prefix),
        TableReservationStore(tables, prefix=prefix),
    )


def run(args: argparse.Namespace, out: TextIO | None = None, ask: Callable[[str], str] | None = None,
        err: TextIO | None = None) -> int:  # fmt: skip
    """`out` and `err` default to stdout and stderr as they are at the call; `ask` puts the question (default:
    `input`, on a terminal). What was found and erased goes to `out`, errors and refusals to `err`."""
    out, err = out or sys.stdout, err or sys.stderr
    if not ids.is_job_id(args.job_id):
        print(f"erase: {args.job_id[:80]!r} is not a job id (j_ and 26 letters or digits)", file=err)
        return 2
    try:
        blobs, tables = model_storage.blob_service(args), table_service(args)
    except model_storage.MalformedConnection as exc:
        print(f"erase: {exc}", file=err)
        return 2
    if blobs is None or tables is None:
        print(f"erase: {model_storage.NO_STORAGE}", file=err)
        return 2
    with blobs, tables:
        try:
            # The stores create their tables when missing: under a wrong prefix or account, the job would be
            # "erased already" while every row of it stays where the app keeps it.
            with translated("tables"):
                found = list(tables.query_tables("TableName eq @name", parameters={"name": args.table_prefix + JOBS}))
            if not found:
                print(f"erase: refused: this account has no {args.table_prefix + JOBS!r} table: a wrong account or "
                      f"--table-prefix (the app's {TABLE_PREFIX})", file=err)  # fmt: skip
                return 2
            return _erase(build(blobs, tables, args.table_prefix), args, out, err, ask)
        except SitelensError as exc:
            print(f"erase: storage failed, the erasure is not complete; run it again to finish it: {exc}", file=err)
            return 1


def _erase(eraser: erasure.Erasure, args: argparse.Namespace, out: TextIO, err: TextIO,
           ask: Callable[[str], str] | None) -> int:  # fmt: skip
    try:
        plan = eraser.plan(args.job_id)
    except NotFound:
        print(f"erase: no job {args.job_id}: nothing to erase (never recorded, or erased already)", file=out)
        return 0
    print(f"the image of job {plan.job_id}'s photo is held by {len(plan.jobs)} job(s):", file=out)
    for job in plan.jobs:
        print(f"  {job.id}  {job.state.value:<9}  photos/{job.blob_name}", file=out)
    if plan.unsettled:
        print(f"erase: refused, nothing erased: {', '.join(j.id for j in plan.unsettled)} still in the pipeline "
              "(not finished, or its event not yet published); erase once it is", file=err)  # fmt: skip
        return 2
    if args.dry_run:
        print("dry run: nothing erased. Each job's original and quarantine copy, task input, result and overlay, "
              "webhook events and deliveries, feedback, upload reservation, content claims and rows would go.",
              file=out)  # fmt: skip
        return 0
    confirmed = plan if args.yes else _confirmed(eraser, plan, err, ask)
    if confirmed is None:
        return 2
    plan = confirmed
    report(eraser.erase(plan), out)
    return 0


def _confirmed(eraser: erasure.Erasure, plan: erasure.Plan, err: TextIO,
               ask: Callable[[str], str] | None) -> erasure.Plan | None:  # fmt: skip
    """The plan to carry out once the operator said yes, looked at again then; None when refused (said on `err`)."""
    if ask is None and not sys.stdin.isatty():
        print("erase: refused, nothing erased: not on a terminal to confirm; pass --yes", file=err)
        return None
    answer = (ask or input)(f"erase all of it for good ({len(plan.jobs)} job(s))? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        print("erase: nothing erased", file=err)
        return None
    again = eraser.plan(plan.job_id)  # the answer may come minutes later: a retry or a copy may have come in
    if [job.id for job in again.jobs] != [job.id for job in plan.jobs]:
        print("erase: refused, nothing erased: the photo's jobs changed while you were asked (a retry or a copy "
              "came in); run it again to see them", file=err)  # fmt: skip
        return None
    return again


def report(erased: Counter[str], out: TextIO) -> None:
    print("erased:", file=out)
    for kind in erasure.KINDS:
        print(f"  {erased[kind]:>5}  {kind}", file=out)
