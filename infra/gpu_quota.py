"""The GPU quota check of `infra/deploy.sh` (`check_gpu_quota`): whether a Batch account's dedicated core quota can
start the pool's nodes, and the support request that would.

`python3 infra/gpu_quota.py SIZE MAX_NODES ACCOUNT QUERY QUOTAS < SKUS`: the account's quotas (`az batch account
show`) and, on stdin, the region's Batch sizes (`az batch location list-skus`), as JSON; prints what to log.
Standard library only: deploy.sh runs it with the machine's python3.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any


def verdict(
    size: str, max_nodes: int, account: str, *, query: str, skus: list[dict[str, Any]], quotas: dict[str, Any]
) -> list[str]:
    """What to log, a line each; a shortfall's lines start with `warning:`."""
    sku = next((s for s in skus if s["name"].lower() == size.lower()), None)
    if sku is None:
        return [f"warning: Batch offers no {size} in this region (az batch location list-skus): the pool gets no nodes"]
    family = sku["familyName"]
    vcpus = int(next(c["value"] for c in sku["capabilities"] if c["name"] == "vCPUs"))
    total = quotas["cores"] or 0
    per_family = {q["name"].lower(): q.get("coreQuota") or 0 for q in quotas.get("perFamily") or []}
    # Where per-family quotas are not enforced, the account total alone limits every family.
    usable = min(per_family.get(family.lower(), 0), total) if quotas.get("enforced") is not False else total
    needed = max_nodes * vcpus
    have = f"{account} has {usable} dedicated cores for {family}"
    if usable >= needed:
        return [f"quota: {have}: {max_nodes} (maxNodes) {size} nodes need {needed}"]
    if usable >= vcpus:
        return [
            f"quota: {have}: the pool can grow to {usable // vcpus} of its {max_nodes} (maxNodes) {size} nodes; "
            f"{needed} cores would cover them all"
        ]
    named = re.fullmatch(r"standard(.+)Family", family, re.IGNORECASE)
    series = f"Standard {named.group(1)} Family" if named else family  # as the quota request names it
    asks = [f'quota type "Dedicated cores per VM series", VM series "{series}", new limit {needed}']
    if total < needed:
        asks.append(f"total dedicated cores: {needed}")
    if (quotas.get("pools") or 0) < 1:
        asks.append("pools: at least 1")
    request = "; ".join(asks)
    return [
        f"warning: Batch account {have} and one {size} node needs {vcpus}: the pool cannot start a node, so "
        "photos wait until they fail timed_out (24 h).",
        f"warning: request an increase (it can take up to two business days): Azure portal, Batch account {account}, "
        "Quotas, Request quota increase (or Help + support, Create a support request, Service and subscription limits "
        f"(quotas), Batch): {request} ({max_nodes} maxNodes x {vcpus} vCPUs; docs/deploy.md, GPU quota).",
        f"warning: see the account's quotas with {query}",
    ]


if __name__ == "__main__":
    size, max_nodes, account, query, quotas = sys.argv[1:]
    skus = sys.stdin.read()  # a region's whole list: larger than one argument may be
    lines = verdict(
        size, int(max_nodes), account, query=query, skus=json.loads(skus or "[]"), quotas=json.loads(quotas)
    )
    print(*lines, sep="\n")
