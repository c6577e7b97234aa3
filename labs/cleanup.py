"""`latencylab clean`: remove shared-memory segments this project left behind.

Only names with our prefix (/dev/shm/latencylab-*) are touched, never anybody
else's.  A process killed mid-run cannot unlink its segment; this can.  A
segment whose header names a creator process that is still running is in use
(a benchmark in another terminal, say) and is kept unless `everything=True`;
so is a file without our header (a peer's scratch segment, a segment being
created) that is younger than a minute.
"""

from __future__ import annotations

import os
import struct
import time

from pyimpl.shm_basics import MAGIC, PREFIX, SHM_DIR, pid_alive

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


def clean_segments(everything: bool = False) -> list[str]:
    """Unlink our segments whose creator is gone (all of them with
    everything=True); return the file names removed."""
    removed = []
    for name in leftover_segments():
        path = os.path.join(SHM_DIR, name)
        pid = creator_pid(path)
        if not everything:
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
