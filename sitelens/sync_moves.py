"""`sitelens sync --move-done DIR`: a photo whose job the status API has answered leaves the drop folder for DIR
(sitelens/sync_agent.py decides when). A name already in DIR is never overwritten: the photo gets its mtime
appended, and a counter after that. A check that the name is free, then a move, would not do: a rename replaces
whatever took the name in between (another agent moving its own photo of that name into the same DIR), so the name
is claimed first, by creating it, and the photo moved onto that empty file.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("sitelens.sync")


def move_into(target_dir: Path, source: Path, mtime_ns: int) -> None:
    """Move `source` (a version with this mtime) into `target_dir`, under a name nothing there held. A photo that
    another agent, or someone, moved away first is left where it went, with a log line."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = _claim_name(target_dir, source, mtime_ns)
    try:
        shutil.move(source, target)  # onto the empty file claimed above, which is ours alone
    except FileNotFoundError:  # another agent, or someone, moved it away since: the photo is done all the same
        target.unlink(missing_ok=True)
        log.info("%s left the folder before it could be moved", source.name)
        return
    except BaseException:
        target.unlink(missing_ok=True)  # leave no empty file behind under the claimed name
        raise
    log.info("moved %s to %s", source.name, target)


def _claim_name(target_dir: Path, source: Path, mtime_ns: int) -> Path:
    """A name in `target_dir` that nothing holds, claimed by creating it empty (O_EXCL), so that no other agent
    takes it meanwhile: the photo's own name, else with its mtime appended, else with a counter after that."""
    for n in itertools.count():
        suffix = "" if n == 0 else f"-{mtime_ns}" if n == 1 else f"-{mtime_ns}-{n - 1}"
        target = target_dir / f"{source.stem}{suffix}{source.suffix}"
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # never overwrite: an earlier photo of the same name is already there
            continue
        return target
    raise AssertionError("unreachable")
