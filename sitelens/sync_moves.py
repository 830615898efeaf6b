"""`sitelens sync --move-done DIR`: a photo whose job the status API has answered leaves the drop folder for DIR
(sitelens/sync_agent.py decides when). A name already in DIR is never overwritten: the photo gets its mtime
appended, and a counter after that. A check that the name is free, then a move, would not do: a rename replaces
whatever took the name in between (another agent moving its own photo of that name into the same DIR), so the name
is claimed first, by creating it, and the photo moved onto that empty file.

A name is at most the folder's NAME_MAX bytes (255 on ext4, XFS, Btrfs): a long name (some 80 CJK characters
already take 240 bytes in UTF-8) with the mtime appended would not fit, so the name's stem is cut short, at the
end of a character, to leave room for what is appended. Any other refusal (a done folder full, read-only, or on
FAT refusing `:` or `?`) is raised to the agent, which leaves the photo where it is and tries again later.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("sitelens.sync")
# What a file system that does not say holds to (and ext4, XFS and Btrfs do): bytes in one name.
DEFAULT_NAME_MAX = 255


def move_into(target_dir: Path, source: Path, mtime_ns: int) -> None:
    """Move `source` (a version with this mtime) into `target_dir`, under a name nothing there held. A photo that
    another agent, or someone, moved away first is left where it went, with a log line. Raises OSError when the
    folder refuses the move: the photo is then still in the drop folder, and nothing is left in `target_dir`."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = _claim_name(target_dir, source, mtime_ns)
    try:
        shutil.move(source, target)  # onto the empty file claimed above, which is ours alone
    except FileNotFoundError:
        target.unlink(missing_ok=True)
        if os.path.lexists(source):  # not the photo that went: the done folder did (removed meanwhile)
            raise
        log.info("%s left the folder before it could be moved", source.name)  # the photo is done all the same
        return
    except BaseException:
        target.unlink(missing_ok=True)  # leave no empty file behind under the claimed name
        raise
    log.info("moved %s to %s", source.name, target)


def _claim_name(target_dir: Path, source: Path, mtime_ns: int) -> Path:
    """A name in `target_dir` that nothing holds, claimed by creating it empty (O_EXCL), so that no other agent
    takes it meanwhile: the photo's own name, else with its mtime appended, else with a counter after that."""
    name_max = _name_max(target_dir)
    for n in itertools.count():
        suffix = "" if n == 0 else f"-{mtime_ns}" if n == 1 else f"-{mtime_ns}-{n - 1}"
        target = target_dir / _fitted(source.stem, f"{suffix}{source.suffix}", name_max)
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # never overwrite: an earlier photo of the same name is already there
            continue
        return target
    raise AssertionError("unreachable")


def _name_max(folder: Path) -> int:
    """The longest name `folder` holds, in bytes."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):  # the file system does not say
        return DEFAULT_NAME_MAX
    return limit if limit > 0 else DEFAULT_NAME_MAX


def _fitted(stem: str, tail: str, name_max: int) -> str:
    """`stem + tail` in at most `name_max` bytes as the file system holds them, the stem cut short if need be. It is
    cut between characters, never inside one's UTF-8 bytes (a name that is not UTF-8 keeps its bytes: each escape
    stands for one)."""
    room = name_max - len(os.fsencode(tail))
    kept = 0
    for char in stem:
        room -= len(os.fsencode(char))
        if room < 0:
            break
        kept += 1
    return stem[:kept] + tail
