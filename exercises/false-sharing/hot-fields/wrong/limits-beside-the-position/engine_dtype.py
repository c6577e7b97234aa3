"""Lab 2 exercise: lay out the engine's shared block - a known-wrong answer
(the limits in the gateway's block, see engine.h); the dtype matches that C layout."""

import numpy as np

ENGINE = np.dtype({
    "names": ["md_seq", "md_last_ts_ns", "orders_sent", "last_order_ns", "fills", "position",
              "max_position", "strategy_id", "flags"],
    "formats": ["<u8", "<u8", "<u8", "<u8", "<u8", "<i8", "<i8", "<u4", "<u4"],
    "offsets": [0, 8, 128, 136, 256, 264, 272, 280, 284],
    "itemsize": 384,
})
