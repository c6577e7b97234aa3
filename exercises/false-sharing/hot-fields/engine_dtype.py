"""Lab 2 exercise: lay out the engine's shared block - the Python monitor's view (see README.md).

ENGINE is the NumPy dtype of engine.h's engine_shared: the same field names,
the same types, each at the offset C gives it, and an itemsize equal to C's
sizeof, so that np.frombuffer(segment.buf, ENGINE, 1) reads what the C
threads write.  This one describes the packed 72-byte struct that engine.h
starts with; when you change engine.h, change it to match (guide section 3,
"NumPy: a structured dtype with an explicit itemsize").
"""

import numpy as np

ENGINE = np.dtype({
    "names": ["md_seq", "md_last_ts_ns", "orders_sent", "last_order_ns", "fills", "position",
              "max_position", "strategy_id", "flags"],
    "formats": ["<u8", "<u8", "<u8", "<u8", "<u8", "<i8", "<i8", "<u4", "<u4"],
    "offsets": [0, 8, 16, 24, 32, 40, 48, 56, 60],
    "itemsize": 72,
})
