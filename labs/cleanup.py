"""`latencylab clean`: remove shared-memory segments this project left behind.

Only names with our prefix (/dev/shm/latencylab-*) are touched, never anybody
else's.  A process killed mid-run cannot unlink its segment; this can.  A
segment is in use, and kept unless `everything=True`, while any process holds
it open - every open Segment holds a lock on one byte of the file, and a
ring's producer and consumer one each (pyimpl/shm_basics.py, LOCK_BYTES), and
the kernel drops them when the holder dies, so a ring whose creator died but
whose roles were taken over by live processes is kept - or while the creator
its header names is running.  A file without our header (a peer's scratch
segment, a segment being created) is kept while younger than a minute.
"""

from __future__ import annotations

import os
import struct
import time

from pyimpl.shm_basics import LOCK_BYTES, MAGIC, PREFIX, SHM_DIR, ofd_held, pid_alive

YOUNG_S = 60.0  # a headerless file younger than this may be in use


def leftover_segments() -> list[str]:
    """File names in /dev/shm that carry our prefix."""
    try:
        names = os.listdir(SHM_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(PREFIX))


def _age_s(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return float("inf")


def creator_pid(path: str) -> int | None:
    """The creator pid recorded in a latencylab segment header, or None if the
    file has no valid header (a peer's scratch file, a half-made segment)."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:
        return None
    if len(head) < 32 or struct.unpack_from("<Q", head, 0)[0] != MAGIC:
        return None
    return struct.unpack_from("<I", head, 28)[0]


def held(path: str) -> bool:
    """True if some process holds the segment open (a lock on one of its first
    LOCK_BYTES bytes: a Segment's "attached" lock or a ring role)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return ofd_held(fd, 0, LOCK_BYTES)
    except OSError:
        return False
    finally:
        os.close(fd)


def clean_segments(everything: bool = False) -> list[str]:
    """Unlink our segments whose creator is gone (all of them with
    everything=True); return the file names removed."""
    removed = []
    for name in leftover_segments():
        path = os.path.join(SHM_DIR, name)
        pid = creator_pid(path)
        if not everything:
            if held(path):
                continue  # a live process holds it open (its creator, or one that took a ring role over)
            if pid is not None and pid_alive(pid):
                continue  # its creator is running
            if pid is None and _age_s(path) < YOUNG_S:
                continue  # no header yet, or a peer's scratch file: maybe in use

        try:
            os.unlink(path)
            removed.append(name)
        except FileNotFoundError:
            pass  # its owner removed it meanwhile
    return removed
