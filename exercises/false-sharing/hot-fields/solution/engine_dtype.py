"""Lab 2 exercise: lay out the engine's shared block - the solution's dtype.

The offsets and the itemsize spelled out, exactly as C lays them out: each
group at the start of its own 128-byte block, 512 bytes in all.  (align=True
would not do it: it aligns each field to its own size, 8, and adds no
padding between groups.)  The check compares every field with C's offsetof.
"""

import numpy as np

PAD = 128

ENGINE = np.dtype({
    "names": ["md_seq", "md_last_ts_ns", "orders_sent", "last_order_ns", "fills", "position",
              "max_position", "strategy_id", "flags"],
    "formats": ["<u8", "<u8", "<u8", "<u8", "<u8", "<i8", "<i8", "<u4", "<u4"],
    "offsets": [0, 8, PAD, PAD + 8, 2 * PAD, 2 * PAD + 8, 3 * PAD, 3 * PAD + 8, 3 * PAD + 12],
    "itemsize": 4 * PAD,
})

assert ENGINE.itemsize % PAD == 0
