"""`latencylab clean`: remove shared-memory segments this project left behind.

Only names with our prefix (/dev/shm/latencylab-*) are touched, never anybody
else's.  A process killed mid-run cannot unlink its segment; this can.
"""

from __future__ import annotations

import os

from pyimpl.shm_basics import PREFIX, SHM_DIR


def leftover_segments() -> list[str]:
    """File names in /dev/shm that carry our prefix."""
    try:
        names = os.listdir(SHM_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(PREFIX))


def clean_segments() -> list[str]:
    """Unlink every latencylab segment; return the file names removed."""
    removed = []
    for name in leftover_segments():
        try:
            os.unlink(os.path.join(SHM_DIR, name))
            removed.append(name)
        except FileNotFoundError:
            pass  # its owner removed it meanwhile
    return removed
